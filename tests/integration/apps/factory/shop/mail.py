from celery import shared_task


@shared_task(name="shop.mail.send")
def send(to):
    return {"node": send.request.hostname, "sent": to}
