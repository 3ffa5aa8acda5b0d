//! What the member handles around the audio: the microphone check and the
//! device pickers under the Call button, and during a call mute, the DTMF
//! keypad, the microphone level and call-quality warnings. All of it talks to
//! the browser phone (`phone.rs`); without JavaScript none of it renders.

use super::phone::Phone;
use leptos::prelude::*;

const DTMF_KEYS: [&str; 12] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/// The microphone's state and the device pickers, under the Call button.
#[component]
pub fn AudioSettings(hydrated: RwSignal<bool>) -> AnyView {
    let phone = expect_context::<Phone>();
    let status = move || {
        let microphone = phone.microphone.get();
        match microphone.status.as_str() {
            "ok" => ("ok", "Microphone ready".to_owned()),
            "prompt" => (
                "prompt",
                "Your browser will ask to use the microphone when you call.".to_owned(),
            ),
            "checking" => ("prompt", "Checking the microphone…".to_owned()),
            "unknown" => ("prompt", "Microphone not checked yet".to_owned()),
            _ => ("problem", microphone.message),
        }
    };
    view! {
        <Show when=move || hydrated.get()>
            <div class="audio-settings">
                <p class="mic-status" data-state=move || status().0 role="status">
                    <span class="mic-dot" aria-hidden="true"></span>
                    {move || status().1}
                </p>
                <Show when=move || !phone.devices.with(|d| d.inputs.is_empty() && d.outputs.is_empty())>
                    {device_pickers(phone)}
                </Show>
            </div>
        </Show>
    }
    .into_any()
}

/// The microphone and speaker choices (labels appear once the microphone is allowed).
fn device_pickers(phone: Phone) -> AnyView {
    let options = move |outputs: bool| {
        let devices = phone.devices.get();
        let (list, chosen) = if outputs {
            (devices.outputs, devices.output)
        } else {
            (devices.inputs, devices.input)
        };
        list.into_iter()
            .map(|d| {
                let selected = d.id == chosen;
                view! { <option value=d.id selected=selected>{d.label}</option> }
            })
            .collect_view()
    };
    let speaker = move || {
        if phone.devices.with(|d| d.outputs.is_empty()) {
            view! { <p class="hint">"This browser plays calls on its default speaker."</p> }
                .into_any()
        } else {
            view! {
                <label for="speaker-picker">"Speaker"</label>
                <select id="speaker-picker" on:change=move |ev| phone.choose_output(&event_target_value(&ev))>
                    <option value="">"System default"</option>
                    {move || options(true)}
                </select>
            }
            .into_any()
        }
    };
    view! {
        <details class="device-pickers">
            <summary>"Audio devices"</summary>
            <label for="mic-picker">"Microphone"</label>
            <select id="mic-picker" on:change=move |ev| phone.choose_input(&event_target_value(&ev))>
                <option value="">"System default"</option>
                {move || options(false)}
            </select>
            {speaker}
        </details>
    }
    .into_any()
}

/// Mute, the keypad, the level meter and the warnings, while a call is live.
#[component]
pub fn InCallControls() -> AnyView {
    let phone = expect_context::<Phone>();
    let keypad_open = RwSignal::new(false);
    let sent = RwSignal::new(String::new());
    let open = move || phone.line.get() == "open";
    let level = move || format!("{:.0}%", (phone.input_level.get() * 400.0).min(100.0));
    view! {
        <div class="in-call" role="group" aria-label="Call controls">
            <div class="in-call-buttons">
                <button type="button" class="control" class:active=move || phone.muted.get()
                    aria-pressed=move || phone.muted.get().to_string()
                    on:click=move |_| phone.set_muted(!phone.muted.get_untracked())>
                    {move || if phone.muted.get() { "Unmute" } else { "Mute" }}
                </button>
                <button type="button" class="control" class:active=move || keypad_open.get()
                    aria-expanded=move || keypad_open.get().to_string() aria-controls="dtmf-keypad"
                    on:click=move |_| keypad_open.update(|o| *o = !*o)>
                    "Keypad"
                </button>
            </div>
            <Show when=move || open()>
                <div class="mic-level" title="Your microphone">
                    <span class="visually-hidden">"Microphone level"</span>
                    <span class="mic-level-bar" style:width=level></span>
                </div>
                {move || phone.muted.get().then(|| view! {
                    <p class="muted-note" role="status">"You are muted: the other side cannot hear you."</p>
                })}
            </Show>
            <Show when=move || keypad_open.get()>
                <div id="dtmf-keypad" class="keypad dtmf" role="group" aria-label="Send tones">{dtmf_keys(phone, sent)}</div>
                <p class="hint" data-testid="digits-sent">
                    {move || if sent.get().is_empty() { "Tones go to the other side, for menus and PINs.".to_owned() } else { format!("Sent: {}", sent.get()) }}
                </p>
            </Show>
            <For each=move || phone.warnings.get() key=|(name, _)| name.clone() let((_, message))>
                <p class="call-warning" role="alert">{message}</p>
            </For>
        </div>
    }
    .into_any()
}

/// The twelve tone keys; they send only while the call is answered.
fn dtmf_keys(phone: Phone, sent: RwSignal<String>) -> impl IntoView {
    DTMF_KEYS
        .into_iter()
        .map(|key| {
            view! {
                <button type="button" class="key" aria-label=format!("Send {key}")
                    disabled=move || phone.line.get() != "open"
                    on:click=move |_| {
                        phone.send_digits(key);
                        sent.update(|s| s.push_str(key));
                    }>
                    {key}
                </button>
            }
        })
        .collect_view()
}
