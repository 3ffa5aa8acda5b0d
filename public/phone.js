// The dialer's phone: one small interface over two audio back ends.
//
//   - "simulated": the built-in carrier places the call on the server; this
//     file plays what a caller would hear while following the call's status
//     from the live stream: ringback while ringing, the member's own
//     microphone echoed back through a loopback WebRTC connection once
//     answered (an audible "other side"), busy and reorder tones, silence
//     after the hang-up.
//   - "twilio": Twilio's Voice SDK (`Twilio.Device`, served from
//     /pkg/twilio.min.js and loaded only here, only in this mode) carries the
//     audio; the server gives a one-shot attempt id and the SDK connects with
//     it. Twilio's own sounds (fetched from its CDN) are replaced by a silent
//     file of ours; ringback, DTMF and the busy/reorder tones are ours.
//
// The Leptos dialer (app/src/pages/dialer/phone.rs) binds to `window.phonebooth`
// with wasm-bindgen and hears back through one listener that receives JSON
// strings: {type:"state"|"microphone"|"devices"|"error"|"warning"|"volume"|"ready", ...}.
// `phonebooth.probe()` is a read-only view for tests: {state, outputLevel, ...}.
(function () {
  "use strict";

  const SDK_URL = "/pkg/twilio.min.js";
  const SILENT_SOUND = "/sounds/silence.wav";
  const TOKEN_URL = "/api/calls/voice_token";
  // Refresh the access token this long before it expires (the SDK's
  // tokenWillExpire fires only once per Device, so a timer backs it up).
  const TOKEN_REFRESH_LEAD_MS = 60_000;
  // How long busy and reorder tones play after the call failed.
  const END_TONE_MS = 3_000;

  // North American call-progress tones: [frequencies Hz, on ms, off ms].
  const TONES = {
    ringback: [[440, 480], 2000, 4000],
    busy: [[480, 620], 500, 500],
    reorder: [[480, 620], 250, 250],
  };
  const DTMF = {
    1: [697, 1209], 2: [697, 1336], 3: [697, 1477],
    4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
    7: [852, 1209], 8: [852, 1336], 9: [852, 1477],
    "*": [941, 1209], 0: [941, 1336], "#": [941, 1477],
  };

  // Twilio error codes people meet, in words they can act on.
  const ERROR_MESSAGES = {
    20101: "The calling session is not valid. Reload the page and try again.",
    20104: "The calling session expired. Reload the page and try again.",
    20151: "Twilio could not authenticate this browser. Reload the page and try again.",
    31000: "The call failed for an unknown reason. Try again.",
    31001: "Calling is not configured correctly (the TwiML App was not found). Tell your administrator.",
    31002: "The call was declined.",
    31003: "The call timed out while connecting. Check your connection and try again.",
    31005: "The connection to the calling service was lost. Check your connection and try again.",
    31008: "The call was canceled.",
    31009: "The calling service cannot be reached. Check your connection or firewall.",
    31201: "This browser is not authorized to place calls. Reload the page and try again.",
    31204: "The calling session is not valid. Reload the page and try again.",
    31205: "The calling session expired. Reload the page and try again.",
    31206: "Too many calls started at once. Wait a moment and try again.",
    31207: "The calling session was issued for too long. Tell your administrator.",
    31401: "Microphone access was denied. Allow the microphone for this site in your browser settings.",
    31402: "The microphone could not be opened: it may be in use by another application.",
    31480: "The number is temporarily unavailable.",
    31486: "The line is busy.",
    31603: "The call was declined.",
    53000: "The connection to the calling service was lost. Check your network.",
    53001: "The connection to the calling service was interrupted. Check your network.",
    53400: "Your browser could not set up the audio. Try another browser.",
    53402: "The audio could not be set up with the other side. Try again.",
    53405: "The audio connection failed (a firewall may be blocking it). Check your network.",
  };
  const WARNING_MESSAGES = {
    "high-rtt": "High delay on your connection: the other side may hear you late.",
    "low-mos": "Poor call quality on your connection.",
    "high-jitter": "Your connection is unsteady: audio may break up.",
    "high-packet-loss": "Your connection is losing audio: the other side may not hear everything.",
    "high-packets-lost-fraction": "Your connection is losing audio: the other side may not hear everything.",
    "low-bytes-received": "No audio is arriving from the other side.",
    "low-bytes-sent": "No audio is leaving your microphone.",
    "ice-connectivity-lost": "The connection dropped; trying to reconnect…",
    "constant-audio-input-level": "Your microphone seems silent: check that it is not muted.",
    "constant-audio-output-level": "No sound is coming through: check your speaker.",
  };

  function errorMessage(code, fallback) {
    return ERROR_MESSAGES[code] || fallback || "The call failed. Try again.";
  }

  /** What getUserMedia's failure means for a person, by the error's name. */
  function microphoneProblem(error) {
    const name = (error && error.name) || "";
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return ["denied", "Microphone access is blocked. Allow the microphone for this site (the icon in the address bar), then try again."];
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
      return ["no-device", "No microphone was found. Connect one and try again."];
    }
    if (name === "NotReadableError" || name === "AbortError" || name === "TrackStartError") {
      return ["in-use", "The microphone could not be opened: another application may be using it. Close it and try again."];
    }
    return ["error", "The microphone could not be opened (" + (name || "unknown error") + ")."];
  }

  // ---- shared state ---------------------------------------------------------

  let listener = null;
  let options = { mode: "simulated", orgId: "" };
  let line = null; // the active back end
  const status = { state: "idle", muted: false, digits: "", tonesSent: "", endedBy: null };

  function emit(event) {
    if (listener) {
      try {
        listener(JSON.stringify(event));
      } catch (error) {
        console.error("phonebooth listener failed", error);
      }
    }
  }

  function setState(state, extra) {
    if (status.state === state && !extra) return;
    status.state = state;
    emit(Object.assign({ type: "state", state: state, muted: status.muted }, extra || {}));
  }

  // ---- audio output shared by both back ends (tones, DTMF, the echo) -------

  const audio = {
    ctx: null,
    master: null,
    analyser: null,
    samples: null,
    tone: null, // { oscillators, gain }
    sinkId: "",
  };

  function ensureAudio() {
    if (!audio.ctx) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      audio.ctx = new Context();
      audio.master = audio.ctx.createGain();
      audio.analyser = audio.ctx.createAnalyser();
      audio.analyser.fftSize = 1024;
      audio.samples = new Float32Array(audio.analyser.fftSize);
      audio.master.connect(audio.analyser);
      audio.analyser.connect(audio.ctx.destination);
      if (audio.sinkId && typeof audio.ctx.setSinkId === "function") {
        audio.ctx.setSinkId(audio.sinkId).catch(function () {});
      }
    }
    if (audio.ctx.state === "suspended") {
      audio.ctx.resume().catch(function () {});
    }
    return audio.ctx;
  }

  /** RMS of what is being played right now, 0..1. */
  function outputLevel() {
    if (!audio.analyser) return 0;
    audio.analyser.getFloatTimeDomainData(audio.samples);
    let sum = 0;
    for (let i = 0; i < audio.samples.length; i++) sum += audio.samples[i] * audio.samples[i];
    return Math.sqrt(sum / audio.samples.length);
  }

  function stopTone() {
    if (!audio.tone) return;
    const { oscillators, gain } = audio.tone;
    audio.tone = null;
    for (const oscillator of oscillators) {
      try { oscillator.stop(); } catch (_) { /* already stopped */ }
    }
    gain.disconnect();
  }

  /** Plays a cadenced tone until stopTone (cadence scheduled ahead for 10 minutes). */
  function playTone(name) {
    stopTone();
    const ctx = ensureAudio();
    if (!ctx) return;
    const [frequencies, onMs, offMs] = TONES[name];
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(audio.master);
    const start = ctx.currentTime + 0.01;
    const period = (onMs + offMs) / 1000;
    for (let t = 0; t < 600; t += period) {
      gain.gain.setValueAtTime(0.12, start + t);
      gain.gain.setValueAtTime(0, start + t + onMs / 1000);
    }
    const oscillators = frequencies.map(function (frequency) {
      const oscillator = ctx.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start(start);
      return oscillator;
    });
    audio.tone = { oscillators: oscillators, gain: gain, name: name };
  }

  /** A short DTMF tone the member hears as feedback for a key. */
  function playDigit(digit) {
    const ctx = ensureAudio();
    const pair = DTMF[digit];
    if (!ctx || !pair) return;
    const gain = ctx.createGain();
    const start = ctx.currentTime + 0.005;
    gain.gain.setValueAtTime(0.1, start);
    gain.gain.setValueAtTime(0, start + 0.12);
    gain.connect(audio.master);
    for (const frequency of pair) {
      const oscillator = ctx.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start(start);
      oscillator.stop(start + 0.13);
    }
    setTimeout(function () { gain.disconnect(); }, 400);
  }

  // ---- the microphone ------------------------------------------------------

  const mic = { stream: null, deviceId: "", ok: false, meter: null, meterSamples: null };

  function inputConstraints() {
    return { audio: mic.deviceId ? { deviceId: { exact: mic.deviceId } } : true };
  }

  /** Opens the microphone (asking permission if needed); reports {type:"microphone"}. */
  async function openMicrophone() {
    if (mic.stream && mic.stream.getAudioTracks().some(function (t) { return t.readyState === "live"; })) {
      emit({ type: "microphone", status: "ok", message: "" });
      return mic.stream;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      mic.ok = false;
      emit({ type: "microphone", status: "unsupported", message: "This browser cannot use a microphone here (calling needs a secure https page in a current browser)." });
      return null;
    }
    try {
      mic.stream = await navigator.mediaDevices.getUserMedia(inputConstraints());
    } catch (error) {
      const [code, message] = microphoneProblem(error);
      mic.ok = false;
      emit({ type: "microphone", status: code, message: message });
      return null;
    }
    mic.ok = true;
    emit({ type: "microphone", status: "ok", message: "" });
    listDevices();
    return mic.stream;
  }

  function closeMicrophone() {
    if (mic.stream) {
      for (const track of mic.stream.getTracks()) track.stop();
    }
    mic.stream = null;
    mic.meter = null;
  }

  function inputLevel() {
    if (!mic.meter) return 0;
    mic.meter.getFloatTimeDomainData(mic.meterSamples);
    let sum = 0;
    for (let i = 0; i < mic.meterSamples.length; i++) sum += mic.meterSamples[i] * mic.meterSamples[i];
    return Math.sqrt(sum / mic.meterSamples.length);
  }

  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (_) {
      return;
    }
    const pick = function (kind) {
      return devices
        .filter(function (d) { return d.kind === kind && d.deviceId; })
        .map(function (d, i) {
          return { id: d.deviceId, label: d.label || (kind === "audioinput" ? "Microphone " : "Speaker ") + (i + 1) };
        });
    };
    const canChooseOutput = !!(window.AudioContext && typeof AudioContext.prototype.setSinkId === "function");
    emit({
      type: "devices",
      inputs: pick("audioinput"),
      outputs: canChooseOutput ? pick("audiooutput") : [],
      input: mic.deviceId,
      output: audio.sinkId,
      outputChoice: canChooseOutput,
    });
  }

  // ---- back end 1: the simulated carrier's audible side ----------------------

  function SimulatedLine() {
    this.callId = null;
    this.loop = null; // { caller, callee, sender, echoSource, holder }
    this.endTimer = null;
  }

  SimulatedLine.prototype.ready = function () {
    emit({ type: "ready", mode: "simulated" });
  };

  SimulatedLine.prototype.dial = function (callId) {
    this.callId = callId;
    clearTimeout(this.endTimer);
    stopTone(); // a busy tone still sounding from the call before
    status.digits = "";
    status.tonesSent = "";
    status.muted = false;
    setState("connecting");
  };

  /** The call's status as the server's live stream reports it. */
  SimulatedLine.prototype.follow = function (callId, callStatus) {
    if (!this.callId || callId !== this.callId) return;
    switch (callStatus) {
      case "queued":
      case "initiated":
        setState("connecting");
        break;
      case "ringing":
        if (status.state !== "ringing") {
          playTone("ringback");
          setState("ringing");
        }
        break;
      case "in-progress":
        if (status.state !== "open") {
          stopTone();
          setState("open");
          this.openEcho();
        }
        break;
      case "busy":
        this.finish("busy", "busy");
        break;
      case "failed":
      case "no-answer":
        this.finish("reorder", callStatus);
        break;
      default: // completed, canceled
        this.finish(null, callStatus);
    }
  };

  /** Ends the audio: an optional tone for a few seconds, then silence. */
  SimulatedLine.prototype.finish = function (tone, reason) {
    this.closeEcho();
    this.callId = null;
    clearTimeout(this.endTimer);
    if (tone) {
      playTone(tone);
      setState(tone, { reason: reason });
      this.endTimer = setTimeout(function () {
        stopTone();
        setState("ended", { reason: reason });
      }, END_TONE_MS);
    } else {
      stopTone();
      setState("ended", { reason: reason });
    }
  };

  SimulatedLine.prototype.hangup = function () {
    if (!this.callId && status.state !== "busy" && status.state !== "reorder") return;
    this.finish(null, "hung-up");
  };

  /** Microphone -> caller peer -> callee peer -> a slight delay -> the speaker. */
  SimulatedLine.prototype.openEcho = async function () {
    const ctx = ensureAudio();
    const stream = await openMicrophone();
    if (!ctx || !stream || status.state !== "open") return;
    const caller = new RTCPeerConnection();
    const callee = new RTCPeerConnection();
    const loop = { caller: caller, callee: callee, sender: null, echoSource: null, holder: null, nodes: [] };
    this.loop = loop;
    caller.onicecandidate = function (e) { if (e.candidate) callee.addIceCandidate(e.candidate).catch(function () {}); };
    callee.onicecandidate = function (e) { if (e.candidate) caller.addIceCandidate(e.candidate).catch(function () {}); };
    callee.ontrack = function (event) {
      const remote = event.streams[0] || new MediaStream([event.track]);
      // Chromium delivers a remote WebRTC stream to Web Audio only while a
      // media element plays it too; the element itself stays muted.
      const holder = new Audio();
      holder.muted = true;
      holder.srcObject = remote;
      holder.play().catch(function () {});
      loop.holder = holder;
      const source = ctx.createMediaStreamSource(remote);
      const delay = ctx.createDelay(1);
      delay.delayTime.value = 0.25; // the other side answers a moment later
      const gain = ctx.createGain();
      gain.gain.value = 0.9;
      source.connect(delay).connect(gain).connect(audio.master);
      loop.echoSource = source;
      loop.nodes = [source, delay, gain];
    };
    const track = stream.getAudioTracks()[0];
    track.enabled = !status.muted;
    loop.sender = caller.addTrack(track, stream);
    const meterSource = ctx.createMediaStreamSource(stream);
    mic.meter = ctx.createAnalyser();
    mic.meter.fftSize = 512;
    mic.meterSamples = new Float32Array(mic.meter.fftSize);
    meterSource.connect(mic.meter);
    // The tones the connection actually carries to the other side (RFC 4733
    // events, as a phone menu would receive them), for the probe.
    if (loop.sender.dtmf) {
      loop.sender.dtmf.ontonechange = function (event) {
        if (event.tone) status.tonesSent += event.tone;
      };
    }
    try {
      await caller.setLocalDescription(await caller.createOffer());
      await callee.setRemoteDescription(caller.localDescription);
      await callee.setLocalDescription(await callee.createAnswer());
      await caller.setRemoteDescription(callee.localDescription);
    } catch (error) {
      emit({ type: "error", code: 0, message: "The simulated audio could not start (" + error.name + ")." });
    }
    startVolumeReports();
  };

  SimulatedLine.prototype.closeEcho = function () {
    const loop = this.loop;
    this.loop = null;
    stopVolumeReports();
    if (loop) {
      for (const node of loop.nodes) node.disconnect();
      if (loop.holder) loop.holder.srcObject = null;
      loop.caller.close();
      loop.callee.close();
    }
    closeMicrophone();
  };

  SimulatedLine.prototype.mute = function (muted) {
    if (mic.stream) {
      for (const track of mic.stream.getAudioTracks()) track.enabled = !muted;
    }
  };

  SimulatedLine.prototype.sendDigits = function (digits) {
    const sender = this.loop && this.loop.sender;
    if (sender && sender.dtmf && sender.dtmf.canInsertDTMF) {
      // insertDTMF replaces what is still queued: append to it instead.
      sender.dtmf.insertDTMF(sender.dtmf.toneBuffer + digits, 100, 70);
    }
  };

  SimulatedLine.prototype.setInput = async function () {
    if (!this.loop || !this.loop.sender) return;
    closeMicrophone();
    const stream = await openMicrophone();
    if (stream && this.loop) {
      const track = stream.getAudioTracks()[0];
      track.enabled = !status.muted;
      await this.loop.sender.replaceTrack(track);
    }
  };

  // ---- back end 2: Twilio's Voice SDK ------------------------------------------

  function TwilioLine() {
    this.device = null;
    this.call = null;
    this.refreshTimer = null;
  }

  function loadScript(url) {
    return new Promise(function (resolve, reject) {
      if (window.Twilio && window.Twilio.Device) return resolve();
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("could not load " + url)); };
      document.head.appendChild(script);
    });
  }

  async function fetchToken() {
    const response = await fetch(TOKEN_URL, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({ org_id: options.orgId }),
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("token request answered " + response.status);
    return response.json(); // { token, identity, expires_at }
  }

  TwilioLine.prototype.ready = async function () {
    try {
      await loadScript(options.sdkUrl || SDK_URL);
      const grant = await fetchToken();
      const silent = {};
      for (const name of ["incoming", "outgoing", "disconnect", "dtmf0", "dtmf1", "dtmf2", "dtmf3", "dtmf4", "dtmf5", "dtmf6", "dtmf7", "dtmf8", "dtmf9", "dtmfs", "dtmfh"]) {
        silent[name] = SILENT_SOUND;
      }
      const device = new window.Twilio.Device(grant.token, {
        sounds: silent,
        closeProtection: false, // the dialer asks before the tab closes itself
        codecPreferences: ["opus", "pcmu"],
        logLevel: "warn",
      });
      device.audio.incoming(false);
      device.audio.outgoing(false);
      device.audio.disconnect(false);
      const self = this;
      device.on("tokenWillExpire", function () { self.refresh(); });
      device.on("error", function (error) {
        emit({ type: "error", code: error.code || 0, message: errorMessage(error.code, error.message) });
      });
      this.device = device;
      this.schedule(grant.expires_at);
      emit({ type: "ready", mode: "twilio", identity: grant.identity });
    } catch (error) {
      emit({ type: "error", code: 0, fatal: true, message: "Calling could not start in this browser (" + error.message + "). Reload the page to try again." });
    }
  };

  /** A timer as well as tokenWillExpire: that event fires only once per Device. */
  TwilioLine.prototype.schedule = function (expiresAt) {
    clearTimeout(this.refreshTimer);
    const self = this;
    const wait = Math.max(5_000, expiresAt * 1000 - Date.now() - TOKEN_REFRESH_LEAD_MS);
    this.refreshTimer = setTimeout(function () { self.refresh(); }, wait);
  };

  TwilioLine.prototype.refresh = async function () {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const grant = await fetchToken();
      this.device.updateToken(grant.token);
      this.schedule(grant.expires_at);
      emit({ type: "token", expires_at: grant.expires_at });
    } catch (_) {
      // Try again shortly; the current token is still valid for a while.
      const self = this;
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(function () { self.refresh(); }, 10_000);
    } finally {
      this.refreshing = false;
    }
  };

  TwilioLine.prototype.dial = async function (callId, attempt) {
    if (!this.device) {
      emit({ type: "error", code: 0, message: "Calling is not ready yet. Wait a moment and try again." });
      return;
    }
    status.digits = "";
    status.muted = false;
    setState("connecting");
    let call;
    try {
      call = await this.device.connect({ params: { attempt: attempt } });
    } catch (error) {
      emit({ type: "error", code: error.code || 0, message: errorMessage(error.code, error.message) });
      setState("ended", { reason: "failed" });
      return;
    }
    this.call = call;
    const self = this;
    call.on("ringing", function (hasEarlyMedia) {
      // With answerOnBridge the far end's own ringing arrives as early media.
      if (!hasEarlyMedia) playTone("ringback");
      setState("ringing");
    });
    call.on("accept", function () {
      stopTone();
      setState("open");
    });
    call.on("mute", function (muted) {
      status.muted = muted;
      emit({ type: "state", state: status.state, muted: muted });
    });
    call.on("volume", function (input, output) {
      emit({ type: "volume", input: input, output: output });
    });
    call.on("warning", function (name) {
      emit({ type: "warning", name: name, message: WARNING_MESSAGES[name] || "Call quality warning: " + name });
    });
    call.on("warning-cleared", function (name) {
      emit({ type: "warning", name: name, cleared: true });
    });
    call.on("reconnecting", function () {
      emit({ type: "warning", name: "reconnecting", message: "The connection dropped; reconnecting…" });
    });
    call.on("reconnected", function () {
      emit({ type: "warning", name: "reconnecting", cleared: true });
    });
    call.on("error", function (error) {
      emit({ type: "error", code: error.code || 0, message: errorMessage(error.code, error.message) });
    });
    const ended = function (reason) {
      return function () {
        stopTone();
        if (self.call === call) self.call = null;
        setState("ended", { reason: reason });
      };
    };
    call.on("disconnect", ended("completed"));
    call.on("cancel", ended("canceled"));
    call.on("reject", ended("rejected"));
  };

  TwilioLine.prototype.follow = function (callId, callStatus) {
    // The SDK's own events drive the audio; the server's view only adds the
    // tones a PSTN leg that never answered deserves when the SDK ended silently.
    if (status.state === "ended" && (callStatus === "busy")) {
      playTone("busy");
      setTimeout(stopTone, END_TONE_MS);
    }
  };

  TwilioLine.prototype.hangup = function () {
    stopTone();
    if (this.call) this.call.disconnect();
  };

  TwilioLine.prototype.mute = function (muted) {
    if (this.call) this.call.mute(muted);
  };

  TwilioLine.prototype.sendDigits = function (digits) {
    if (this.call) this.call.sendDigits(digits);
  };

  TwilioLine.prototype.setInput = async function (deviceId) {
    if (!this.device) return;
    try {
      await this.device.audio.setInputDevice(deviceId || "default");
    } catch (error) {
      const [code, message] = microphoneProblem(error);
      emit({ type: "microphone", status: code, message: message });
    }
  };

  // ---- volume reports while a call is open ---------------------------------

  let volumeTimer = null;
  function startVolumeReports() {
    stopVolumeReports();
    volumeTimer = setInterval(function () {
      emit({ type: "volume", input: inputLevel(), output: outputLevel() });
    }, 200);
  }
  function stopVolumeReports() {
    clearInterval(volumeTimer);
    volumeTimer = null;
  }

  // ---- the interface the dialer binds to ---------------------------------------

  const api = {
    /** Picks the back end and reports {type:"ready"} when calls can be placed. */
    /** Stops reporting to the dialer (it is leaving the page). */
    detach: function () {
      listener = null;
    },
    start: function (optionsJson, onEvent) {
      options = Object.assign({ mode: "simulated", orgId: "" }, JSON.parse(optionsJson || "{}"));
      listener = onEvent || null;
      line = options.mode === "twilio" ? new TwilioLine() : new SimulatedLine();
      line.ready();
      api.checkMicrophone(false);
    },
    /** Reports the microphone's permission state; with `ask` also prompts for it. */
    checkMicrophone: async function (ask) {
      if (!ask && navigator.permissions && navigator.permissions.query) {
        try {
          const permission = await navigator.permissions.query({ name: "microphone" });
          if (permission.state === "denied") {
            const [code, message] = microphoneProblem({ name: "NotAllowedError" });
            emit({ type: "microphone", status: code, message: message });
            return;
          }
          if (permission.state !== "granted") {
            emit({ type: "microphone", status: "prompt", message: "" });
            return;
          }
        } catch (_) {
          // Some browsers cannot query the microphone permission: ask when dialing.
          emit({ type: "microphone", status: "prompt", message: "" });
          return;
        }
      }
      const stream = await openMicrophone();
      // Only the check: a call opens its own when it needs one.
      if (stream && !api.busy()) closeMicrophone();
    },
    /**
     * Called from the Call button's click (a user gesture): unlocks audio
     * output and opens the microphone. Reports {type:"microphone"}.
     */
    prepare: function () {
      ensureAudio();
      api.checkMicrophone(true);
    },
    /** The server accepted the call: `attempt` (Twilio mode) starts the SDK's side. */
    dial: function (callId, attempt) {
      ensureAudio();
      if (line) line.dial(callId, attempt);
    },
    follow: function (callId, callStatus) {
      if (line) line.follow(callId, callStatus);
    },
    hangup: function () {
      if (line) line.hangup();
    },
    mute: function (muted) {
      status.muted = !!muted;
      if (line) line.mute(status.muted);
      emit({ type: "state", state: status.state, muted: status.muted });
    },
    sendDigits: function (digits) {
      const clean = String(digits).replace(/[^0-9*#]/g, "");
      if (!clean || status.state !== "open") return;
      status.digits += clean;
      for (let i = 0; i < clean.length; i++) {
        setTimeout(playDigit, i * 170, clean[i]);
      }
      if (line) line.sendDigits(clean);
    },
    setInput: function (deviceId) {
      mic.deviceId = deviceId || "";
      if (line) line.setInput(mic.deviceId);
    },
    setOutput: function (deviceId) {
      audio.sinkId = deviceId || "";
      if (audio.ctx && typeof audio.ctx.setSinkId === "function") {
        audio.ctx.setSinkId(audio.sinkId).catch(function () {
          emit({ type: "error", code: 0, message: "That speaker could not be selected." });
        });
      }
      if (line && line.device && line.device.audio.isOutputSelectionSupported) {
        line.device.audio.speakerDevices.set([audio.sinkId || "default"]).catch(function () {});
      }
    },
    listDevices: listDevices,
    /** True while a call is connecting, ringing or open (the tab asks before closing). */
    busy: function () {
      return status.state === "connecting" || status.state === "ringing" || status.state === "open";
    },
    /** Read-only view for tests: what the member would hear right now. */
    probe: function () {
      return {
        state: status.state,
        muted: status.muted,
        outputLevel: outputLevel(),
        inputLevel: inputLevel(),
        tone: audio.tone ? audio.tone.name : null,
        digits: status.digits,
        tonesSent: status.tonesSent,
        mode: options.mode,
      };
    },
    errorMessage: errorMessage,
  };

  window.phonebooth = api;
})();
