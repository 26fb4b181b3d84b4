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
    Failure_NeedsInput,
    InputRequest,
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


def ask(task, request_id: str, message: str, schema: dict):
    """Asks the TASK's sender a question: the answer (checked by baton against `schema`, a JSON
    Schema) once it was given, else the TASK waits for it (`input_required`; nothing of the
    plugin is kept running) and the plugin runs again from the start with the answer in
    `task.inputs`. So ask in the same order each run, and do nothing that cannot be done twice
    before the last question. `request_id` names the question, the same each run."""
    inputs = json.loads(task.inputs or "{}")
    if request_id in inputs:
        return inputs[request_id]
    raise Err(Failure_NeedsInput(InputRequest(request_id=request_id, message=message, input_schema=json.dumps(schema))))


def hello(task, params: dict) -> Outcome:
    name = params.get("name", "world")
    host.log(Level.INFO, f"greeting {name}")
    greeting = f"Hello, {name}!"
    return Outcome(summary=greeting, result=json.dumps({"greeting": greeting}), artifacts=[])


def greet(task, params: dict) -> Outcome:
    # Asks who to greet (`baton answer ID --input '{"name": "Ada"}'` answers it).
    answer = ask(task, "name", "Who should I greet?", NAME_SCHEMA)
    greeting = f"Hello, {answer['name']}!"
    return Outcome(summary=greeting, result=json.dumps({"greeting": greeting}), artifacts=[])


# The answer `greet` asks for.
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

ACTIONS = {"hello": hello, "greet": greet}


class WitWorld(wit_world.WitWorld):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name=NAME,
            version=VERSION,
            description="An example plugin: greets whoever params.name says.",
            actions=[
                ActionInfo(name="hello", description="Greets params.name.", params_schema=json.dumps(HELLO_SCHEMA)),
                ActionInfo(name="greet", description="Asks who to greet, then greets them.", params_schema=json.dumps({"type": "object"})),
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
        return action(task, json.loads(task.params))
