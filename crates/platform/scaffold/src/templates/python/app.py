"""The {{name}} plugin: `describe` says who it is and what it can do, `handle` runs one task.

Build it with ./build.sh (writes {{name}}.wasm); check it with ./test.sh.
What it prints (print(), tracebacks) is kept in the task's plugin log (`baton show ID`).
"""
import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    ActionInfo,
    Failure_InvalidInput,
    Level,
    Outcome,
    PluginInfo,
)

NAME = "{{name}}"
VERSION = "0.1.0"

# The params of `hello`, as JSON Schema: baton checks every TASK against it before the plugin
# runs. No property is required, so `{}` is valid.
HELLO_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Who to greet (default: world)."},
    },
    "additionalProperties": False,
}


def hello(params: dict) -> Outcome:
    name = params.get("name", "world")
    host.log(Level.INFO, f"greeting {name}")
    greeting = f"Hello, {name}!"
    return Outcome(summary=greeting, result=json.dumps({"greeting": greeting}), artifacts=[])


ACTIONS = {"hello": hello}


class WitWorld(wit_world.WitWorld):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name=NAME,
            version=VERSION,
            description="An example plugin: greets whoever params.name says.",
            actions=[
                ActionInfo(name="hello", description="Greets params.name.", params_schema=json.dumps(HELLO_SCHEMA)),
            ],
            folders=[],
        )
{{python_catalog_access}}
    def handle(self, task) -> Outcome:
        action = ACTIONS.get(task.action)
        if action is None:
            # A failure the sender can fix: answered `failed` with this message, not retried.
            raise Err(Failure_InvalidInput(f"unknown action {task.action!r}; actions: {', '.join(ACTIONS)}"))
        # An uncaught exception ends the task as a trap; its traceback is kept in the plugin log
        # and quoted in the RETURN's error message.
        return action(json.loads(task.params))
