"""Property-based run of schemathesis (4.x) over every service's OpenAPI document.

Starts Shop with the launcher (`shop up --no-seed`) on free ports with a schema suffix
of its own, creates real data through the public API (users, goods, coupons, a
confirmed order, its payment, a paid payment), hands the ids to schemathesis through
its config file (dictionaries bound to the path and body parameters), and runs every
check against each service; internal routes are called with the service credential,
payment callbacks are signed by the hooks module. Prints per service the operations,
test cases and failures, and exits 1 when any failure was found.

Run by .ci/schemathesis.sh (which installs schemathesis into a virtualenv first).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOP = os.path.abspath(os.environ.get("SHOP_EXE", os.path.join(ROOT, "target", "debug", "shop")))
SCHEMATHESIS = os.environ["SCHEMATHESIS"]
MAX_EXAMPLES = os.environ.get("SHOP_FUZZ_EXAMPLES", "30")
SERVICES = ["order", "goods", "coupon", "user", "pay"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_healthy(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not healthy after {seconds}s")


def main():
    ports = {s: free_port() for s in SERVICES}
    urls = {s: f"http://127.0.0.1:{ports[s]}" for s in SERVICES}
    work = tempfile.mkdtemp(prefix="shop-fuzz-")
    suffix = f"_fuzz_{os.getpid()}"
    env = dict(os.environ)
    # Without SHOP_BIN_DIR the launcher runs every part as `shop serve <part>`.
    env.pop("SHOP_BIN_DIR", None)
    env.update(
        {
            "SHOP_SCHEMA_SUFFIX": suffix,
            "SHOP_DATA_DIR": os.path.join(work, "data"),
            "MQ_ADDR": f"127.0.0.1:{free_port()}",
            "MQ_ADMIN_ADDR": f"127.0.0.1:{free_port()}",
            "SHOP_INTERNAL_TOKEN": os.urandom(32).hex(),
            "PAY_CALLBACK_SECRET": os.urandom(16).hex(),
            "RUST_LOG": "warn",
        }
    )
    for s in SERVICES:
        env[f"{s.upper()}_SVC_URL"] = urls[s]
    up_log = open(os.path.join(work, "up.log"), "w")
    up = subprocess.Popen(
        [SHOP, "up", "--no-seed"],
        env=env,
        stdout=up_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    failures = 0
    try:
        for s in SERVICES:
            wait_healthy(urls[s])
        ids = seed(urls, env)
        totals = []
        for s in SERVICES:
            totals.append(fuzz(s, urls[s], write_config(work, ids, s), env, work))
        print("\nschemathesis summary (service: operations, test cases, failures)")
        for s, (operations, cases, found, code) in zip(SERVICES, totals):
            print(f"  {s}-svc: {operations} operations, {cases} cases, {found} failures (exit {code})")
            failures += found + (1 if code not in (0,) and found == 0 else 0)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        drop_schemas(suffix)
        if failures == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}")
    sys.exit(1 if failures else 0)


def seed(urls, env):
    """Real data through the public API; the ids schemathesis is handed."""
    users, goods, coupons = [], [], []
    for i in range(2):
        status, user = call("POST", urls["user"] + "/users", {"name": f"fuzz{i}", "balance": "100000.00"})
        assert status == 201, user
        users.append(user["user_id"])
        status, item = call("POST", urls["goods"] + "/goods", {"name": f"item{i}", "price": "20.00", "stock": 1000})
        assert status == 201, item
        goods.append(item["goods_id"])
        status, coupon = call("POST", urls["coupon"] + "/coupons", {"user_id": users[i], "value": "5.00"})
        assert status == 201, coupon
        coupons.append(coupon["coupon_id"])
    orders, payments = [], []
    for coupon in (coupons[0], None):
        body = {
            "user_id": users[0], "goods_id": goods[0], "quantity": 10, "goods_price": "20.00",
            "order_amount": "200.00", "shipping_fee": "0.00", "coupon_id": coupon,
            "money_paid": "10.00", "address": "Beijing",
        }
        status, order = call("POST", urls["order"] + "/orders", body)
        assert status == 201, order
        orders.append(order["order_id"])
        status, payment = call("POST", urls["pay"] + "/payments", {"order_id": order["order_id"]})
        assert status == 201, payment
        payments.append(payment["pay_id"])
    # The second payment is paid (a settled payment for the callback to meet).
    import hashlib
    import hmac

    raw = json.dumps({"pay_id": payments[1], "status": "paid", "trade_no": "FUZZ-SEED"}).encode()
    signature = hmac.new(env["PAY_CALLBACK_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(urls["pay"] + "/payments/callback", data=raw, method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("x-pay-signature", signature)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return {"users": users, "goods": goods, "coupons": coupons, "orders": orders, "payments": payments}


def write_config(work, ids, service):
    def values(name):
        return "[" + ", ".join(json.dumps(v) for v in ids[name]) + "]"

    bound = lambda key, dictionary: f'"{key}" = {{ dictionary = "{dictionary}", probability = 0.7 }}'
    lines = [
        "# Written by .ci/fuzz_openapi.py: the real ids of this run.",
        f'[dictionaries.users]\nvalues = {values("users")}',
        f'[dictionaries.goods]\nvalues = {values("goods")}',
        f'[dictionaries.coupons]\nvalues = {values("coupons")}',
        f'[dictionaries.orders]\nvalues = {values("orders")}',
        f'[dictionaries.payments]\nvalues = {values("payments")}',
        # Amounts an order of the seeded goods (price 20.00) can state, so that some
        # generated orders pass the checks and reach the confirmation itself.
        '[dictionaries.prices]\nvalues = ["20.00"]',
        '[dictionaries.quantities]\nvalues = [1, 2, 10]',
        '[dictionaries.order_amounts]\nvalues = ["20.00", "40.00", "200.00"]',
        '[dictionaries.shipping_fees]\nvalues = ["10.00", "0.00"]',
        '[dictionaries.money_paid]\nvalues = ["0.00", "5.00", "10.00"]',
        "[parameters]",
        bound("path.user_id", "users"),
        bound("path.goods_id", "goods"),
        bound("path.coupon_id", "coupons"),
        bound("path.order_id", "orders"),
        bound("path.pay_id", "payments"),
        bound("body.user_id", "users"),
        bound("body.goods_id", "goods"),
        bound("body.coupon_id", "coupons"),
        bound("body.order_id", "orders"),
        bound("body.pay_id", "payments"),
        bound("body.goods_price", "prices"),
        bound("body.quantity", "quantities"),
        bound("body.order_amount", "order_amounts"),
        bound("body.shipping_fee", "shipping_fees"),
        bound("body.money_paid", "money_paid"),
    ]
    if service == "order":
        lines.append(
            # Rules across fields: a schema-valid order may get 400 (see
            # positive_data_acceptance_of_orders in .ci/schemathesis_hooks.py, which
            # allows only the codes of those rules).
            '[[operations]]\ninclude-name = "POST /orders"\n'
            'checks.positive_data_acceptance.expected-statuses = '
            '["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]'
        )
    path = os.path.join(work, f"schemathesis-{service}.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def fuzz(service, url, config, env, work):
    report_dir = os.path.join(work, f"report-{service}")
    command = [
        SCHEMATHESIS, "--config-file", config, "run", url + "/openapi.json",
        "--checks", "all",
        "--max-examples", MAX_EXAMPLES,
        "--header", f"Authorization: Bearer {env['SHOP_INTERNAL_TOKEN']}",
        "--request-timeout", "10",
        "--report", "junit", "--report-dir", report_dir,
        "--no-color",
    ]
    run_env = dict(env)
    run_env["SCHEMATHESIS_HOOKS"] = "schemathesis_hooks"
    run_env["PYTHONPATH"] = os.path.join(ROOT, ".ci")
    print(f"\n== schemathesis: {service}-svc ({url}/openapi.json)", flush=True)
    done = subprocess.run(command, env=run_env, capture_output=True, text=True)
    print(done.stdout[-20000:])
    if done.returncode not in (0, 1):
        print(done.stderr[-5000:])
    operations, cases, failures = summarize(report_dir, done.stdout)
    return operations, cases, failures, done.returncode


def summarize(report_dir, text):
    operations = cases = failures = 0
    for name in os.listdir(report_dir) if os.path.isdir(report_dir) else []:
        with open(os.path.join(report_dir, name)) as f:
            xml = f.read()
        operations += len(re.findall(r"<testcase ", xml))
        failures += len(re.findall(r"<failure", xml))
    match = re.search(r"Test cases:\s*\n?\s*(\d+)\s+generated", text) or re.search(r"(\d+) generated", text)
    if match:
        cases = int(match.group(1))
    # The JUnit report has a test case per operation and one for the stateful phase:
    # the operations are what schemathesis says it tested.
    tested = re.search(r"Tested:\s*(\d+)", text)
    if tested:
        operations = int(tested.group(1))
    return operations, cases, failures


def drop_schemas(suffix):
    sql = ";".join(f"drop database if exists `shop_{s}{suffix}`" for s in SERVICES)
    subprocess.run(["mariadb", "--protocol=tcp", "-h127.0.0.1", "-uroot", "-e", sql], check=False)


if __name__ == "__main__":
    main()
