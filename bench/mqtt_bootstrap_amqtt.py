"""The amqtt 0.12.1 side of bench/mqtt_bootstrap.py: amqtt's broker with a plugin that answers each
s/ucr on s/dcr to the publishing session only (its handler's mqtt_publish, not a broadcast).

amqtt pins websockets==15.0.1, which the project's locks cannot take (they hold 17.4), so this runs
in a venv of its own: `python3 -m venv /tmp/amqtt && /tmp/amqtt/bin/pip install amqtt==0.12.1`, then
`bench/mqtt_bootstrap.py --amqtt-python /tmp/amqtt/bin/python`."""

import asyncio
import sys
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BasePlugin

ANSWER = b"70,t100,device_bench,Benchmark0123456789"


class BootstrapAnswer(BasePlugin[Any]):
    async def on_broker_message_received(self, *, client_id: str, message: Any) -> None:
        if message is None or message.topic != "s/ucr":
            return
        _, handler = self.context._broker_instance.sessions.get(client_id, (None, None))
        if handler is not None:
            await handler.mqtt_publish("s/dcr", ANSWER, 0, False)


async def serve(port: int) -> None:
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 20000}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            "mqtt_bootstrap_amqtt.BootstrapAnswer": {},
        },
    }
    broker = Broker(config)
    await broker.start()
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
