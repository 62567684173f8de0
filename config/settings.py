"""Settings, read from the environment. Every variable has a working default for the embedded setup
(SQLite, a serverless broker, local models) and is listed in the README."""

import secrets
from pathlib import Path

from config.database import parse_database_url
from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list, env_str

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
    "servicedesk",
    "governance",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
                "servicedesk.context_processors.roles",
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
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "servicedesk:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
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
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
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
    "sweep-stuck-tickets": {"task": "agents.tasks.sweep_stuck_tickets", "schedule": 60.0},
    "close-resolved-tickets": {"task": "servicedesk.tasks.close_resolved_tickets", "schedule": 3600.0},
    "expire-approvals": {"task": "governance.tasks.expire_approvals", "schedule": 300.0},
}

# The agent. Until the agent lands it stays off: the task escalates every ticket with "agent disabled".
AGENT_ENABLED = env_bool("AGENT_ENABLED", False)
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
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
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
