"""gunicorn settings of the production image, read from the working directory (the benches use them too).

Threaded workers: a connection that sends nothing is parked after 5 s without holding a thread, and a client
that trickles its headers or body holds one thread of 32, not a whole worker (`bench/slow_clients.py`:
/healthz unaffected while 20 or 40 such connections are held). The threads read whole requests; Django runs
them one at a time on the process's own thread (`batchhub/wsgi.py`). Facing the internet, put a buffering proxy in front
(README, production layout): only it can hold thousands of slow clients for free.
"""

import os

wsgi_app = "batchhub.wsgi:application"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
limit_request_line = 8190  # a per-app path with a 512-character custom id fits
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # "" turns it off (the benches)
control_socket_disable = True
