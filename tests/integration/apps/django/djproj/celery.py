"""The project's Celery app, as in Celery's "First steps with Django"."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")

app = Celery("djproj")
# Settings from Django's, those prefixed CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
# tasks.py of every installed Django app, found when a worker starts.
app.autodiscover_tasks()


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    print(f"Request: {self.request!r}")
