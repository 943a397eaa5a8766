"""A real SMTP server for the email tests (aiosmtpd).

Usage: smtp_server.py --port N --dir DIR --tls starttls|implicit|none
                      [--cert FILE --key FILE] [--user U --password P]

Listens on 127.0.0.1:N, requires AUTH (PLAIN or LOGIN) with the given user and password when
one is given (refusing any other), and writes each message it accepts to DIR as
<n>.eml, exactly the bytes received. Prints "ready" on stdout once it listens.
"""

import argparse
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword, SMTP


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        path = os.path.join(self.directory, f"{n:04d}.eml")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, path)
        return "250 OK stored"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # `handled=False` makes aiosmtpd answer a refusal with "535 5.7.8"; with its default
        # (`handled=True`) it answers nothing at all and the client waits for a reply forever.
        return AuthResult(success=ok, handled=False)

    return check


class ImplicitTlsController(Controller):
    """aiosmtpd's Controller checks readiness with a plain connection; with TLS from the
    first byte that check must speak TLS too."""

    def _trigger_server(self):
        import socket

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), 1.0) as raw:
            with context.wrap_socket(raw) as s:
                s.recv(1024)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls", choices=["starttls", "implicit", "none"], required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    smtp_options = dict(
        # With TLS from the first byte aiosmtpd does not know the session is encrypted.
        auth_require_tls=args.tls == "starttls",
        auth_required=args.user is not None,
    )
    if args.user is not None:
        smtp_options["authenticator"] = authenticator(args.user, args.password)
    if args.tls == "starttls":
        smtp_options["tls_context"] = context
        smtp_options["require_starttls"] = True
    smtp_options = {k: v for k, v in smtp_options.items() if v is not None}

    handler = Store(args.dir)
    if args.tls == "implicit":
        controller = ImplicitTlsController(
            handler, hostname="127.0.0.1", port=args.port, ssl_context=context, **smtp_options
        )
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=args.port, **smtp_options)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
