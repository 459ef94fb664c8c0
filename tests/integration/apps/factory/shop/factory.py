"""The app made by a function, as Flask projects do (an app factory), tasks of its own
defined inside it, and shared tasks of a module it includes."""

from celery import Celery


def create_app(name="shop", **settings):
    app = Celery(name, include=["shop.mail"])
    app.conf.update(task_track_started=True, **settings)

    @app.task(name="shop.orders.place")
    def place(order):
        return {"node": place.request.hostname, "placed": order}

    @app.task(name="shop.orders.cancel")
    def cancel(order):
        return {"node": cancel.request.hostname, "cancelled": order}

    return app
