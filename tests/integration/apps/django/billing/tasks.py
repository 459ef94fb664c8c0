from celery import shared_task


@shared_task
def charge(cents):
    return {"node": charge.request.hostname, "charged": cents}


@shared_task
def refund(cents):
    return {"node": refund.request.hostname, "refunded": cents}
