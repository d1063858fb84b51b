"""Schemathesis hooks for Shop (loaded through SCHEMATHESIS_HOOKS).

The payment platform's callback is signed: X-Pay-Signature is the hex HMAC-SHA256 of
the raw body with PAY_CALLBACK_SECRET. Whenever a generated case carries that header,
this hook replaces its value with the true signature of the body schemathesis is about
to send (the same JSON serialization), so that fuzzing reaches the callback's logic
instead of stopping at 401. Cases without the header stay without it.
"""

import hashlib
import hmac
import json
import os

import schemathesis
from schemathesis.core import NOT_SET

SECRET = os.environ["PAY_CALLBACK_SECRET"].encode()
HEADER = "x-pay-signature"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/payments/callback" or case.headers is None:
        return
    names = [name for name in case.headers if name.lower() == HEADER]
    if not names or case.body is NOT_SET:
        return
    body = case.body
    # What the requests transport sends for a JSON body (`json=`): the same dumps.
    raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=False).encode("utf-8")
    signature = hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    for name in names:
        case.headers[name] = signature
