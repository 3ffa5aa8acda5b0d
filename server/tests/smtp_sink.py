"""An SMTP server for the mail tests (aiosmtpd): each delivered message is
written to OUT_DIR as <n>.json with its envelope, headers and both decoded
bodies (text/plain and text/html), plus the raw <n>.eml. The first --refuse
deliveries are refused with --code (a 4xx the sender should retry, a 5xx it
should not), so retries can be tested. Prints "ready <port>" once listening;
stops when its stdin closes (the test that started it ended), or with
--forever only when it is killed (the browser tests' server, scripts/test.sh).

    python smtp_sink.py --port 2525 --out /tmp/mail [--refuse 2 --code 451] [--forever]
"""

import argparse
import email
import email.policy
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out_dir, refuse, code):
        self.out_dir = out_dir
        self.refuse = refuse
        self.code = code
        self.refused = 0
        self.delivered = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                if self.code >= 500:
                    return f"{self.code} 5.7.1 refused for good by the test sink"
                return f"{self.code} 4.3.0 try again later (test sink)"
            self.delivered += 1
            number = self.delivered
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "text": None,
            "html": None,
        }
        for part in message.walk():
            if part.get_content_type() == "text/plain" and record["text"] is None:
                record["text"] = part.get_content()
            elif part.get_content_type() == "text/html" and record["html"] is None:
                record["html"] = part.get_content()
        base = os.path.join(self.out_dir, f"{number:04d}")
        with open(base + ".eml", "wb") as raw:
            raw.write(envelope.content)
        # Written under a temporary name, then renamed: readers never see half a file.
        with open(base + ".json.tmp", "w") as out:
            json.dump(record, out)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK delivered"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--refuse", type=int, default=0)
    parser.add_argument("--code", type=int, default=451)
    parser.add_argument("--forever", action="store_true", help="ignore stdin; run until killed")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    controller = Controller(
        Sink(args.out, args.refuse, args.code), hostname="127.0.0.1", port=args.port
    )
    controller.start()
    print(f"ready {args.port}", flush=True)
    if args.forever:
        threading.Event().wait()
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
