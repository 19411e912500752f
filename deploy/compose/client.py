"""The compose demo's client (docker-compose.yml: web, intruder): one long-lived process that asks
URL every 2 s and prints what happened. A connect() the policy denies fails with EPERM.

It waits a second before its first request: its identity (by uid) is decided from user space a
moment after it starts, and a connect before that would count as unidentified."""
import sys
import time
import urllib.error
import urllib.request

name, url = sys.argv[1], sys.argv[2]
time.sleep(1)
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            print(f"{name} -> api: {response.status}", flush=True)
    except urllib.error.HTTPError as err:
        print(f"{name} -> api: {err.code}", flush=True)
    except OSError as err:
        reason = getattr(err, "reason", err)
        print(f"{name} -> api: refused ({reason})", flush=True)
    time.sleep(2)
