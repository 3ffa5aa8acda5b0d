#!/usr/bin/env python3
"""Checks what we send Twilio against Twilio's own Python library (`twilio`
on PyPI, pinned below):

- our access token is accepted by `AccessToken.from_jwt(token, secret)`
  (signature, `nbf`, `exp`), with Twilio's header (`cty: twilio-fpa;v=1`);
- the library, minting the same claims at the same instant, produces the
  same header and claims as ours;
- our voice TwiML (the `<Dial><Number>` and the refusal) is what
  `VoiceResponse().dial(...).number(...)` and `.say(...)`/`.hangup()` build.

The sample comes from the Rust side (`server/src/providers/twilio/
wire_sample.rs`, written by a unit test). The library is installed once into
`.tools/twilio-venv`. If PyPI cannot be reached, the sample is checked
against `scripts/twilio_wire_golden.json`, minted earlier by the library
(`--write-golden` rewrites it).

Usage: python3 scripts/check_twilio_wire.py [--write-golden]
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TWILIO_VERSION = "9.13.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".tools", "twilio-venv")
GOLDEN = os.path.join(ROOT, "scripts", "twilio_wire_golden.json")


def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_library():
    """The pinned `twilio` in our venv; False when PyPI is out of reach (or
    `TWILIO_WIRE_OFFLINE=1` asks for the golden vector)."""
    if os.environ.get("TWILIO_WIRE_OFFLINE") == "1":
        return False
    python = venv_python()
    if os.path.exists(python):
        installed = subprocess.run(
            [python, "-c", "import twilio; print(twilio.__version__)"],
            capture_output=True, text=True)
        if installed.returncode == 0 and installed.stdout.strip() == TWILIO_VERSION:
            return True
    else:
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pip = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--timeout", "20", f"twilio=={TWILIO_VERSION}"],
        capture_output=True, text=True)
    if pip.returncode != 0:
        print(f"twilio {TWILIO_VERSION} could not be installed from PyPI:\n{pip.stderr[-800:]}")
        return False
    return True


def rust_sample():
    """The token and TwiML our code writes, from the Rust unit test."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sample.json")
        env = dict(os.environ, TWILIO_WIRE_SAMPLE=path)
        run = subprocess.run(
            ["cargo", "test", "--quiet", "-p", "server", "--lib", "write_the_twilio_wire_sample"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        if run.returncode != 0 or not os.path.exists(path):
            sys.exit(f"writing the Rust sample failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        with open(path) as f:
            return json.load(f)


# What runs inside the venv, with the library: reads the sample on stdin,
# prints what the library says and builds.
IN_VENV = r'''
import json, sys, time
from unittest import mock
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.twiml.voice_response import VoiceResponse, Dial
import jwt as pyjwt

s = json.load(sys.stdin)
out = {}
try:
    decoded = AccessToken.from_jwt(s["token"], s["api_key_secret"])
    out["from_jwt"] = {"ok": True, "payload": decoded.payload, "headers": decoded.headers}
except Exception as e:
    out["from_jwt"] = {"ok": False, "error": repr(e)}
try:
    AccessToken.from_jwt(s["token"], s["api_key_secret"] + "x")
    out["wrong_secret_rejected"] = False
except Exception:
    out["wrong_secret_rejected"] = True

with mock.patch("time.time", return_value=float(s["now"])):
    token = AccessToken(s["account_sid"], s["api_key_sid"], s["api_key_secret"],
                        identity=s["identity"], ttl=s["ttl"])
    token.add_grant(VoiceGrant(outgoing_application_sid=s["twiml_app_sid"]))
    minted = token.to_jwt()
out["library_headers"] = pyjwt.get_unverified_header(minted)
out["library_claims"] = pyjwt.decode(minted, options={"verify_signature": False})

d = s["dial"]
response = VoiceResponse()
dial = Dial(action=d["action"], answer_on_bridge=True, caller_id=d["caller_id"],
            time_limit=d["time_limit"], timeout=d["timeout"])
dial.number(d["number"], status_callback=d["status_callback"],
            status_callback_event=d["status_callback_event"])
response.append(dial)
out["dial_twiml"] = str(response)
refusal = VoiceResponse()
refusal.say(s["refusal_said"])
refusal.hangup()
out["refusal_twiml"] = str(refusal)
print(json.dumps(out))
'''


def library_view(sample):
    run = subprocess.run([venv_python(), "-c", IN_VENV], input=json.dumps(sample),
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"the twilio library check crashed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout)


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def decode_ours(sample):
    """Header and claims of our token, its HMAC-SHA256 checked here."""
    header, claims, signature = sample["token"].split(".")
    mac = hmac.new(sample["api_key_secret"].encode(), f"{header}.{claims}".encode(),
                   hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    if not hmac.compare_digest(expected, signature):
        fail("our token's HS256 signature does not verify with the API key secret")
    return b64url_json(header), b64url_json(claims)


def tree(xml_text):
    """An XML document as nested (tag, attributes, text, children)."""
    def walk(element):
        return (element.tag, dict(sorted(element.attrib.items())), (element.text or "").strip(),
                [walk(child) for child in element])
    return walk(ET.fromstring(xml_text.encode()))


FAILURES = []


def fail(message):
    FAILURES.append(message)
    print(f"FAIL {message}")


def check(condition, message):
    if condition:
        print(f"ok   {message}")
    else:
        fail(message)


def relative(claims, now):
    """Claims with their times relative to the minting instant."""
    out = dict(claims)
    out["nbf"] -= now
    out["exp"] -= now
    out["jti"] = out["jti"].replace(f"-{now}", "-<now>")
    return out


def compare(sample, ours_header, ours_claims, library):
    now = sample["now"]
    check(ours_header == library["library_headers"],
          f"token header as the library writes it: {ours_header}")
    check(ours_claims == library["library_claims"],
          "token claims equal the library's for the same grant and instant")
    if ours_claims != library["library_claims"]:
        print(f"     ours:    {json.dumps(ours_claims, sort_keys=True)}")
        print(f"     library: {json.dumps(library['library_claims'], sort_keys=True)}")
    check(tree(sample["dial_twiml"]) == tree(library["dial_twiml"]),
          "the <Dial><Number> TwiML is what VoiceResponse builds")
    if tree(sample["dial_twiml"]) != tree(library["dial_twiml"]):
        print(f"     ours:    {sample['dial_twiml']}\n     library: {library['dial_twiml']}")
    check(tree(sample["refusal_twiml"]) == tree(library["refusal_twiml"]),
          "the refusal TwiML (<Say>, <Hangup/>) is what VoiceResponse builds")
    return relative(ours_claims, now)


def main():
    write_golden = "--write-golden" in sys.argv
    sample = rust_sample()
    ours_header, ours_claims = decode_ours(sample)
    check("incoming" not in ours_claims["grants"]["voice"], "no incoming grant")
    if ensure_library():
        library = library_view(sample)
        check(library["from_jwt"]["ok"],
              f"AccessToken.from_jwt accepts our token {library['from_jwt'].get('error', '')}")
        check(library["wrong_secret_rejected"], "AccessToken.from_jwt refuses another secret")
        compare(sample, ours_header, ours_claims, library)
        if write_golden:
            golden = {
                "twilio_version": TWILIO_VERSION,
                "library_headers": library["library_headers"],
                "library_claims_relative": relative(library["library_claims"], sample["now"]),
                "dial_twiml": library["dial_twiml"],
                "refusal_twiml": library["refusal_twiml"],
            }
            with open(GOLDEN, "w") as f:
                json.dump(golden, f, indent=2, sort_keys=True)
                f.write("\n")
            print(f"wrote {os.path.relpath(GOLDEN, ROOT)}")
    else:
        print(f"checking against the golden vector {os.path.relpath(GOLDEN, ROOT)} instead")
        with open(GOLDEN) as f:
            golden = json.load(f)
        check(ours_header == golden["library_headers"], "token header as the library writes it")
        check(relative(ours_claims, sample["now"]) == golden["library_claims_relative"],
              "token claims equal the library's (golden)")
        check(tree(sample["dial_twiml"]) == tree(golden["dial_twiml"]),
              "the <Dial><Number> TwiML is what VoiceResponse builds (golden)")
        check(tree(sample["refusal_twiml"]) == tree(golden["refusal_twiml"]),
              "the refusal TwiML is what VoiceResponse builds (golden)")
    if FAILURES:
        sys.exit(f"{len(FAILURES)} Twilio wire check(s) failed")
    print("the Twilio wire format agrees with Twilio's library")


if __name__ == "__main__":
    main()
