"""As in Celery's examples/next-steps: `celery -A proj worker` finds this module's app."""

from celery import Celery

app = Celery("proj", broker="amqp://", backend="rpc://", include=["proj.tasks"])

# Optional configuration, see the application user guide.
app.conf.update(result_expires=3600)

if __name__ == "__main__":
    app.start()
