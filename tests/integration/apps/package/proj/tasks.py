from .celery import app


@app.task
def add(x, y):
    return {"node": add.request.hostname, "value": x + y}


@app.task
def mul(x, y):
    return {"node": mul.request.hostname, "value": x * y}


@app.task
def xsum(numbers):
    return {"node": xsum.request.hostname, "value": sum(numbers)}
