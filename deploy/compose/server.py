"""The compose demo's api (docker-compose.yml): http.server on 127.0.0.1:PORT, in this process.

It waits a second before it binds: the kernel records a listener with the identity of the process
that bound it, and this process's identity (by uid) is decided from user space a moment after it
starts. Bound earlier, the port would stay unidentified, and web's rule to api would not apply."""
import http.server
import sys
import time

port = int(sys.argv[1])
time.sleep(1)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
print(f"api: serving on 127.0.0.1:{port}", flush=True)
server.serve_forever()
