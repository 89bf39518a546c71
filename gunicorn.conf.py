"""gunicorn settings for warmflow in production:

    gunicorn -c gunicorn.conf.py 'webapp:create_app()'

Every setting can be changed on the command line (`-w 8`, `-b 0.0.0.0:8000`), and the
main ones by environment: WARMFLOW_BIND, WEB_CONCURRENCY (web worker processes),
WARMFLOW_TRUSTED_PROXIES (how many reverse proxies stand in front; see README
"## Production"). Timers are not fired here: run `warmflow worker` beside it.
"""

import multiprocessing
import os

bind = os.environ.get("WARMFLOW_BIND", "127.0.0.1:8000")
# Sync workers: one request at a time per process, each with its own connection pool.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 60  # a bank file of a whole campaign takes a few seconds; nothing takes a minute
graceful_timeout = 30
# Workers are not preloaded: each process opens its own database connections after fork.
preload_app = False
# No periodic recycling (max_requests): a campaign launch runs in a background thread of
# the worker that received it, and recycling would cut it short (it can be started again,
# but nobody should have to).
max_requests = 0
accesslog = os.environ.get("WARMFLOW_ACCESS_LOG", "-")
errorlog = "-"
# gunicorn's default access line holds the query string; warmflow's never carry personal
# numbers, but keep the line short anyway.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

TRUSTED_PROXIES = int(os.environ.get("WARMFLOW_TRUSTED_PROXIES", "0"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def on_starting(server) -> None:
    # Several processes must sign sessions and CSRF tokens with one key: a key made up per
    # process would log users out whenever their next request reaches another worker.
    if not os.environ.get("SECRET_KEY"):
        raise SystemExit(
            "未设置 SECRET_KEY：每个 web 进程都要用同一个密钥签署登录会话"
            "（见 README 的 Production 一节）。"
            " SECRET_KEY is not set: every web worker needs the same secret key."
        )


def post_worker_init(worker) -> None:
    # Behind a reverse proxy the client address (used by the login and objection rate
    # limits) and the scheme come from X-Forwarded-For / -Proto, trusted for exactly the
    # configured number of proxies.
    if TRUSTED_PROXIES > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        worker.wsgi = ProxyFix(
            worker.wsgi, x_for=TRUSTED_PROXIES, x_proto=TRUSTED_PROXIES, x_host=TRUSTED_PROXIES
        )
