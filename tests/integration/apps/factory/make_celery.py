"""Where `celery -A make_celery:celery_app worker` (and the topology's app:) find the app."""

from shop.factory import create_app

celery_app = create_app()
