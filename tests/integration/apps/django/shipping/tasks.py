from celery import shared_task


@shared_task
def ship(parcel):
    return {"node": ship.request.hostname, "shipped": parcel}


@shared_task
def track_all():
    # Sent by beat every second: its "succeeded" log lines show that beat fires.
    return {"node": track_all.request.hostname, "tracked": True}
