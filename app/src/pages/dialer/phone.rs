//! The dialer's side of the browser phone: loads `/phone.js` (public/phone.js,
//! one interface over the simulated audio engine and Twilio's Voice SDK),
//! binds to its `window.phonebooth` with wasm-bindgen, and turns what it
//! reports into signals the dialer shows: the line's state, the microphone
//! check, the audio devices, call-quality warnings and errors.
//!
//! phone.js is fetched only by this page (and Twilio's SDK only by phone.js,
//! only in Twilio mode). Every binding is `catch`: a call made before the
//! script has loaded, or one that throws, is ignored rather than unwinding
//! through the WASM app. Without JavaScript none of this runs: the simulated
//! carrier is still dialed and ended with plain forms.

use leptos::prelude::*;
use serde::Deserialize;

/// An audio device the member can pick.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AudioDevice {
    pub id: String,
    pub label: String,
}

/// The microphones and speakers the browser lists (labels appear once the
/// microphone is allowed), and the ones chosen ("" = the system default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    pub inputs: Vec<AudioDevice>,
    pub outputs: Vec<AudioDevice>,
    pub input: String,
    pub output: String,
}

/// The microphone check: `unknown` until phone.js has looked, then `ok`,
/// `prompt` (the browser will ask), `denied`, `no-device`, `in-use`,
/// `unsupported` or `error`, with the message to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Microphone {
    pub status: String,
    pub message: String,
}

impl Microphone {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
    /// A problem the member has to fix before calling.
    pub fn problem(&self) -> Option<String> {
        match self.status.as_str() {
            "unknown" | "ok" | "prompt" | "checking" => None,
            _ => Some(self.message.clone()),
        }
    }
}

/// What phone.js reports, one JSON object per event.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum PhoneEvent {
    Ready {},
    State {
        state: String,
        #[serde(default)]
        muted: bool,
    },
    Microphone {
        status: String,
        #[serde(default)]
        message: String,
    },
    Devices {
        inputs: Vec<AudioDevice>,
        outputs: Vec<AudioDevice>,
        #[serde(default)]
        input: String,
        #[serde(default)]
        output: String,
    },
    Error {
        message: String,
        #[serde(default)]
        fatal: bool,
    },
    Warning {
        name: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        cleared: bool,
    },
    Volume {
        input: f64,
    },
    #[serde(other)]
    Other,
}

/// The phone as the dialer sees it. Copy: every field is a signal.
#[derive(Clone, Copy)]
pub struct Phone {
    /// Twilio mode: the SDK carries the audio, and calls need it ready.
    pub twilio: bool,
    /// phone.js has loaded and its back end can place calls.
    pub ready: RwSignal<bool>,
    /// `idle`, `connecting`, `ringing`, `open`, `busy`, `reorder` or `ended`.
    pub line: RwSignal<String>,
    pub muted: RwSignal<bool>,
    pub microphone: RwSignal<Microphone>,
    pub devices: RwSignal<Devices>,
    /// Call-quality warnings in force: (name, message).
    pub warnings: RwSignal<Vec<(String, String)>>,
    pub error: RwSignal<Option<String>>,
    /// The microphone's level while a call is open, 0..1.
    pub input_level: RwSignal<f64>,
    /// Call was pressed before the microphone was allowed: submit once it is.
    pub submit_when_allowed: RwSignal<bool>,
}

impl Phone {
    pub fn new(twilio: bool) -> Self {
        Phone {
            twilio,
            ready: RwSignal::new(false),
            line: RwSignal::new("idle".to_owned()),
            muted: RwSignal::new(false),
            microphone: RwSignal::new(Microphone {
                status: "unknown".to_owned(),
                message: String::new(),
            }),
            devices: RwSignal::new(Devices::default()),
            warnings: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            input_level: RwSignal::new(0.0),
            submit_when_allowed: RwSignal::new(false),
        }
    }

    /// Applies one event from phone.js (a JSON string).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn handle(self, json: &str) {
        let Ok(event) = serde_json::from_str::<PhoneEvent>(json) else {
            return;
        };
        match event {
            PhoneEvent::Ready {} => self.ready.set(true),
            PhoneEvent::State { state, muted } => {
                if state == "connecting" {
                    self.warnings.set(Vec::new());
                    self.error.set(None);
                }
                self.line.set(state);
                self.muted.set(muted);
            }
            PhoneEvent::Microphone { status, message } => {
                let ok = status == "ok";
                self.microphone.set(Microphone { status, message });
                if !ok {
                    self.submit_when_allowed.set(false);
                }
            }
            PhoneEvent::Devices {
                inputs,
                outputs,
                input,
                output,
            } => self.devices.set(Devices {
                inputs,
                outputs,
                input,
                output,
            }),
            PhoneEvent::Error { message, fatal } => {
                if fatal {
                    self.ready.set(false);
                }
                self.error.set(Some(message));
            }
            PhoneEvent::Warning {
                name,
                message,
                cleared,
            } => self.warnings.update(|warnings| {
                warnings.retain(|(known, _)| *known != name);
                if !cleared {
                    warnings.push((name, message));
                }
            }),
            PhoneEvent::Volume { input } => self.input_level.set(input),
            PhoneEvent::Other => {}
        }
    }

    /// Like `in_call`, tracked: for a view that must follow it.
    pub fn in_call_tracked(&self) -> bool {
        matches!(self.line.get().as_str(), "connecting" | "ringing" | "open")
    }

    /// A call is connecting, ringing or open in this browser.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn in_call(&self) -> bool {
        matches!(
            self.line.get_untracked().as_str(),
            "connecting" | "ringing" | "open"
        )
    }
}

#[cfg(feature = "hydrate")]
mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn start(options: &str, listener: &js_sys::Function) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn detach() -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn prepare() -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn dial(call_id: &str, attempt: Option<String>) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn follow(call_id: &str, status: &str) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn hangup() -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth)]
        pub fn mute(muted: bool) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth, js_name = sendDigits)]
        pub fn send_digits(digits: &str) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth, js_name = setInput)]
        pub fn set_input(device_id: &str) -> Result<(), JsValue>;
        #[wasm_bindgen(catch, js_namespace = phonebooth, js_name = setOutput)]
        pub fn set_output(device_id: &str) -> Result<(), JsValue>;
    }
}

/// The browser side: loading phone.js and talking to it.
#[cfg(feature = "hydrate")]
impl Phone {
    /// Loads phone.js (once per document) and starts it for this organization;
    /// on the way out (leaving the dialer) any call's audio is hung up.
    pub fn attach(self, org_id: String) {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        let options = serde_json::json!({
            "mode": if self.twilio { "twilio" } else { "simulated" },
            "orgId": org_id,
        })
        .to_string();
        let listener = Closure::<dyn FnMut(String)>::new(move |json: String| self.handle(&json));
        let listener: js_sys::Function = listener.into_js_value().unchecked_into();
        let start = move || {
            let _ = js::start(&options, &listener);
        };
        let window = window();
        let loaded = js_sys::Reflect::has(&window, &"phonebooth".into()).unwrap_or(false);
        if loaded {
            start();
        } else if let Ok(script) = document().create_element("script") {
            let _ = script.set_attribute("src", "/phone.js");
            let on_load = Closure::once_into_js(start);
            let _ = script.add_event_listener_with_callback("load", on_load.unchecked_ref());
            if let Some(head) = document().head() {
                let _ = head.append_child(&script);
            }
        }
        on_cleanup(|| {
            let _ = js::hangup();
            let _ = js::detach();
        });
        self.protect_tab();
    }

    /// Asks before the tab is closed or reloaded while a call is under way.
    fn protect_tab(self) {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;

        let guard = Closure::<dyn FnMut(web_sys::BeforeUnloadEvent)>::new(
            move |event: web_sys::BeforeUnloadEvent| {
                if self.in_call() {
                    event.prevent_default();
                    // Older browsers show the prompt only when a value is set.
                    event.set_return_value("A call is in progress.");
                }
            },
        );
        let _ = window()
            .add_event_listener_with_callback("beforeunload", guard.as_ref().unchecked_ref());
        let held = StoredValue::new_local(Some(guard));
        on_cleanup(move || {
            if let Some(guard) = held.try_update_value(Option::take).flatten() {
                let _ = window().remove_event_listener_with_callback(
                    "beforeunload",
                    guard.as_ref().unchecked_ref(),
                );
            }
        });
    }

    /// From the Call button's click (a user gesture, which audio output needs):
    /// unlocks audio and checks the microphone.
    pub fn prepare(&self) {
        if !self.microphone.get_untracked().ok() {
            self.microphone.set(Microphone {
                status: "checking".to_owned(),
                message: String::new(),
            });
        }
        let _ = js::prepare();
    }

    pub fn dial(&self, call_id: &str, attempt: Option<String>) {
        let _ = js::dial(call_id, attempt);
    }

    pub fn follow(&self, call_id: &str, status: &str) {
        let _ = js::follow(call_id, status);
    }

    pub fn hangup(&self) {
        let _ = js::hangup();
    }

    pub fn set_muted(&self, muted: bool) {
        let _ = js::mute(muted);
    }

    pub fn send_digits(&self, digits: &str) {
        let _ = js::send_digits(digits);
    }

    pub fn choose_input(&self, device_id: &str) {
        self.devices.update(|d| d.input = device_id.to_owned());
        let _ = js::set_input(device_id);
    }

    pub fn choose_output(&self, device_id: &str) {
        self.devices.update(|d| d.output = device_id.to_owned());
        let _ = js::set_output(device_id);
    }
}

/// On the server nothing plays: the same methods do nothing.
#[cfg(not(feature = "hydrate"))]
impl Phone {
    pub fn attach(self, _org_id: String) {}
    pub fn prepare(&self) {}
    pub fn dial(&self, _call_id: &str, _attempt: Option<String>) {}
    pub fn follow(&self, _call_id: &str, _status: &str) {}
    pub fn hangup(&self) {}
    pub fn set_muted(&self, _muted: bool) {}
    pub fn send_digits(&self, _digits: &str) {}
    pub fn choose_input(&self, _device_id: &str) {}
    pub fn choose_output(&self, _device_id: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_events_become_state() {
        let owner = leptos::prelude::Owner::new();
        owner.with(|| {
            let phone = Phone::new(false);
            phone.handle(r#"{"type":"ready","mode":"simulated"}"#);
            assert!(phone.ready.get_untracked());
            phone.handle(r#"{"type":"state","state":"ringing","muted":false}"#);
            assert!(phone.in_call());
            phone.handle(r#"{"type":"warning","name":"high-rtt","message":"High delay"}"#);
            phone.handle(r#"{"type":"warning","name":"low-mos","message":"Poor"}"#);
            phone.handle(r#"{"type":"warning","name":"high-rtt","cleared":true}"#);
            assert_eq!(
                phone.warnings.get_untracked(),
                vec![("low-mos".to_owned(), "Poor".to_owned())]
            );
            phone.submit_when_allowed.set(true);
            phone.handle(r#"{"type":"microphone","status":"denied","message":"Blocked"}"#);
            assert!(!phone.submit_when_allowed.get_untracked());
            assert_eq!(
                phone.microphone.get_untracked().problem().as_deref(),
                Some("Blocked")
            );
            phone.handle(r#"{"type":"error","code":31005,"message":"Lost","fatal":true}"#);
            assert!(!phone.ready.get_untracked());
            phone.handle(r#"{"type":"state","state":"ended","reason":"completed"}"#);
            assert!(!phone.in_call());
            phone.handle("not json");
            phone.handle(r#"{"type":"something-new"}"#);
        });
    }
}
