"""A real MCP client (the official Python SDK, `mcp` from PyPI) driving `baton mcp` over stdio.

Used by tests/mcp.rs: `python3 tests/mcp_client.py BATON HOME SCENARIO` runs one scenario and
prints, as one JSON object on stdout, what each call answered (structured content, text,
is_error), for the Rust test to check against the files on disk. Scenarios:
  claude: the agent "Claude" sends to the echo plugin and to "Codex", waits, lists, reads,
          and is refused where it must be;
  codex:  the agent "Codex" answers the TASK whose id is in $TASK_ID;
  ask:    the agent "Claude" sends echo `ask`, waits (input_required), answers (a bad input, then the
          right one, then a second answer), waits for the RETURN (tests/platform/asking.rs);
  tasks:  the agent "Claude" with MCP's tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`)
          declared through the SDK's extension interface: send_task and wait_for_return answer
          task handles, resolved by polling `tasks/get`; an unanswered wait is `tasks/cancel`led;
  pages:  the agent "Claude" pages through its `inbox` and through `status`'s open handoffs;
  state:  the server is started with `--state $STATE_URL` and no $BATON_STATE in its environment;
          the tools that run the binary (status, plugins) must reach that same ledger;
  docs:   every client configuration in docs/agents.md (the `claude mcp add` and `codex mcp add` lines, .mcp.json,
          .cursor/mcp.json, Codex's config.toml) is parsed and launched as written, with only
          the command `baton` replaced by BATON and BATON_HOME by HOME; each lists its tools
          and reads its own inbox.
Protocol errors (an unknown tool) are caught and recorded as {"protocol_error": message}.
"""

import asyncio
import json
import os
import sys

from typing import Any, Literal

import mcp_types
from mcp import Client
from mcp.client.extension import ClientExtension, ResultClaim
from mcp.client.stdio import StdioServerParameters
from pydantic import ConfigDict

TASKS = "io.modelcontextprotocol/tasks"


class TaskHandle(mcp_types.Result):
    """`CreateTaskResult`: what a tools/call answers when the server made it a task (the
    task's fields, `taskId`, `status`, `pollIntervalMs`…, beside `resultType`)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"

    def fields(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude={"result_type", "meta"})


class TaskState(mcp_types.Result):
    """A `tasks/get` answer (SEP-2663's DetailedTask: the task's fields, flattened)."""

    model_config = ConfigDict(extra="allow")


class Tasks(ClientExtension):
    """The tasks extension for the SDK's `Client`: a task handle is polled with `tasks/get`
    until it ends, and its result becomes the call's result. Counts what it saw."""

    identifier = TASKS

    def __init__(self):
        self.handles = []
        self.polls = 0
        self.created = {}  # task id -> every createdAt tasks/get answered for it

    def claims(self):
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self.resolve)]

    async def get(self, session, task_id):
        self.polls += 1
        req = mcp_types.GetTaskRequest(params=mcp_types.GetTaskRequestParams(task_id=task_id))
        state = (await session.send_request(req, TaskState)).model_dump(by_alias=True)
        seen = self.created.setdefault(task_id, [])
        if state.get("createdAt") not in seen:
            seen.append(state.get("createdAt"))
        return state

    async def resolve(self, handle, ctx):
        task_id = handle.fields()["taskId"]
        self.handles.append({"tool": ctx.tool_name, "task": handle.fields()})
        while True:
            state = await self.get(ctx.session, task_id)
            if state["status"] in ("completed", "failed", "cancelled"):
                break
            await asyncio.sleep(state.get("pollIntervalMs", 50) / 1000)
        if state["status"] != "completed":
            raise RuntimeError(f"task {task_id} ended {state['status']}: {state.get('error')}")
        return mcp_types.CallToolResult.model_validate(state["result"])


def shown(result):
    text = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    return {
        "structured": result.structured_content,
        "text": text,
        "text_json": [json.loads(t) for t in text],
        "is_error": bool(result.is_error),
    }


async def scenario(baton, home, name):
    agent = "Codex" if name == "codex" else "Claude"
    if name == "state":
        params = StdioServerParameters(
            command=baton,
            args=["--home", home, "--state", os.environ["STATE_URL"], "mcp", "--agent", agent],
            env={k: v for k, v in os.environ.items() if k.startswith(("XDG_", "BATON_LOG"))},
        )
    elif name == "broken":
        params = StdioServerParameters(
            command=baton,
            args=["--home", home, "mcp", "--agent", os.environ.get("AGENT", "Claude")],
            env={k: v for k, v in os.environ.items() if k.startswith(("XDG_", "BATON_LOG"))},
        )
    else:
        params = StdioServerParameters(
            command=baton,
            # A wait-cap far below what a task waits: a task must not be held to it.
            args=["--home", home, "mcp", "--agent", agent, "--wait-cap", "1" if name == "tasks" else "20"],
            env={k: v for k, v in os.environ.items() if k.startswith(("XDG_", "BATON_LOG", "BATON_STATE"))},
        )
    out = {}
    tasks = Tasks()
    async with Client(params, extensions=[tasks] if name in ("tasks", "restart1", "restart2", "get") else None) as c:
        async def call(key, tool, args=None):
            try:
                out[key] = shown(await c.call_tool(tool, args or {}))
            except Exception as e:  # a protocol error: recorded, the session goes on
                out[key] = {"protocol_error": str(e)}

        if name == "ask":
            # A TASK that asks back (docs/asking-back.md): input_required, a refused answer, the answer.
            await call("send", "send_task", {"plugin": "echo", "action": "ask", "params": {}})
            tid = out["send"]["structured"]["id"]
            await call("wait_asked", "wait_for_return", {"id": tid})
            await call("answer_bad", "answer", {"id": tid, "input": {"name": 5}})
            await call("answer", "answer", {"id": tid, "input": {"name": "Ada"}})
            await call("wait_done", "wait_for_return", {"id": tid})
            await call("answer_again", "answer", {"id": tid, "input": {"name": "Bob"}})
        elif name == "claude":
            tools = await c.list_tools()
            out["tools"] = {t.name: {"input": t.input_schema, "output": t.output_schema} for t in tools.tools}
            await call("send_plugin", "send_task", {"plugin": "echo", "action": "echo", "params": {"n": 7}})
            pid = out["send_plugin"]["structured"]["id"]
            await call("wait_plugin", "wait_for_return", {"id": pid})
            await call("send_agent", "send_task", {"to": "Codex", "title": "Review PR 42", "body": {"pr": 42}})
            aid = out["send_agent"]["structured"]["id"]
            await call("wait_pending", "wait_for_return", {"id": aid, "timeout_s": 0.2})
            await call("inbox_codex", "inbox", {"agent": "Codex"})
            await call("inbox_mine", "inbox")
            await call("read", "read_handoff", {"id": aid})
            await call("reply_not_mine", "reply", {"id": aid, "status": "completed", "summary": "x"})
            await call("send_unknown", "send_task", {"to": "Codexx", "title": "x"})
            await call("send_as_other", "send_task", {"to": "Codex", "title": "x", "from": "Codex"})
            # Refused before anything is written; a TASK dropped by hand with that action is
            # written, rejected by serve, and retried.
            await call("send_bad_action", "send_task", {"plugin": "echo", "action": "nope", "params": {}})
            await call("send_new_agent", "send_task", {"to": "Cursor", "title": "hello", "new_agent": True})
            bid = "MCP-BAD-ACTION"
            drop = os.path.join(home, "handoffs", "baton", "01_inbox")
            with open(os.path.join(drop, ".tmp-bad"), "w") as f:
                json.dump({"schema": "baton.handoff/v1", "id": bid, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                           "from": "Claude", "title": "nope", "plugin": "echo", "action": "nope", "params": {}}, f)
            os.rename(os.path.join(drop, ".tmp-bad"), os.path.join(drop, "20260118T070951Z__TASK__Nope__Claude.json"))
            await call("wait_rejected", "wait_for_return", {"id": bid})
            await call("ack", "ack", {"ids": [pid]})
            await call("ack_again", "ack", {"ids": [pid]})
            await call("ack_unknown", "ack", {"ids": ["NOPE"]})
            await call("retry_unchanged", "retry", {"id": bid})
            await call("retry", "retry", {"id": bid, "force": True})
            await call("retry_unknown", "retry", {"id": "NOPE"})
            await call("status", "status")
            await call("show", "show", {"id": pid})
            await call("plugins", "plugins")
            await call("audit", "audit")
            await call("unknown_tool", "no_such_tool")
            resources = await c.list_resources()
            out["resources"] = [r.uri for r in resources.resources]
            read = await c.read_resource("baton://inbox/Codex")
            out["resource_codex"] = json.loads(read.contents[0].text)
            out["agent_task_id"] = aid
        elif name == "tasks":
            # The RETURN comes 2.5 s after the send (the test's agent answers then): well past
            # the 1 s wait-cap, which a task does not obey.
            await call("send_agent", "send_task", {"to": "Codex", "title": "Answer in 2.5 s"})
            out["agent_task_id"] = out["send_agent"]["structured"]["id"]
            print(out["agent_task_id"], file=sys.stderr, flush=True)
            await call("wait_agent", "wait_for_return", {"id": out["agent_task_id"]})
            # The same handoff waited on again: the same task, its status as it ended.
            again = await c.session.call_tool("wait_for_return", {"id": out["agent_task_id"]}, allow_claimed=True)
            out["wait_again"] = again.fields()
            await call("send_plugin", "send_task", {"plugin": "echo", "action": "echo", "params": {"t": 1}})
            await call("wait_plugin", "wait_for_return", {"id": out["send_plugin"]["structured"]["id"]})
            await call("send_refused", "send_task", {"to": "Nobody", "title": "x"})
            # A wait that nobody answers, cancelled: its handle taken as is, then tasks/cancel.
            await call("send_unanswered", "send_task", {"to": "Codex", "title": "never answered"})
            raw = await c.session.call_tool("wait_for_return", {"id": out["send_unanswered"]["structured"]["id"]}, allow_claimed=True)
            tid = raw.fields()["taskId"]
            out["before_cancel"] = await tasks.get(c.session, tid)
            await c.session.send_request(mcp_types.CancelTaskRequest(params=mcp_types.CancelTaskRequestParams(task_id=tid)), TaskState)
            out["after_cancel"] = await tasks.get(c.session, tid)
            out["handles"] = tasks.handles
            out["polls"] = tasks.polls
            out["created"] = tasks.created
        elif name == "restart1":
            # Two TASKs sent, a wait started as a task on the first; then the server goes away.
            await call("send1", "send_task", {"to": "Codex", "title": "answered after a restart"})
            await call("send2", "send_task", {"to": "Codex", "title": "cancelled after a restart"})
            t1 = out["send1"]["structured"]["id"]
            raw = await c.session.call_tool("wait_for_return", {"id": t1}, allow_claimed=True)
            out["wait_task_id"] = raw.fields()["taskId"]
            out["t1"], out["t2"] = t1, out["send2"]["structured"]["id"]
        elif name == "restart2":
            # A new server process: the task ids still answer, from the handoffs and the ledger.
            t1, t2 = os.environ["T1"], os.environ["T2"]
            out["t1"] = await tasks.get(c.session, t1)
            out["t2_before"] = await tasks.get(c.session, t2)
            await c.session.send_request(mcp_types.CancelTaskRequest(params=mcp_types.CancelTaskRequestParams(task_id=t2)), TaskState)
            out["t2_after"] = await tasks.get(c.session, t2)
            try:
                out["nope"] = await tasks.get(c.session, "NOPE")
            except Exception as e:
                out["nope"] = {"protocol_error": str(e)}
        elif name == "broken":
            # Started on a folder that is not a home, or with a bad agent name: the session
            # starts, and each tool answers the error and its fix.
            await call("status", "status")
            await call("send_task", "send_task", {"to": "Codex", "title": "x"})
        elif name == "mailbox":
            # `to` a Claude Code team's agent: delivered into its inbox (tests/platform/mailboxes.rs).
            await call("send_team", "send_task", {"to": "alpha/worker", "title": "From MCP", "body": "Hello from MCP.",
                                                  "claude_task": "alpha#1"})
            await call("send_team_unknown", "send_task", {"to": "alpha/nobody", "body": "x"})
            # A team task that is not in the list: refused, nothing delivered.
            await call("send_team_no_task", "send_task", {"to": "alpha/worker", "body": "y", "claude_task": "alpha#9"})
        elif name == "mailbox_wait":
            # A TASK answered to a Claude Code team's agent: the wait sees the RETURN `serve`
            # appends to that agent's Claude inbox (tests/platform/mailboxes.rs runs serve).
            await call("send_plugin", "send_task", {"plugin": "echo", "action": "echo", "params": {"n": 9},
                                                    "reply_to": "alpha/worker"})
            await call("wait_plugin", "wait_for_return", {"id": out["send_plugin"]["structured"]["id"], "timeout_s": 20})
            # One nobody answers: the wait ends pending, naming where the answer was expected.
            await call("send_agent", "send_task", {"to": "Codex", "title": "never answered", "reply_to": "alpha/worker"})
            await call("wait_agent", "wait_for_return", {"id": out["send_agent"]["structured"]["id"], "timeout_s": 0.3})
            # A TASK whose sender is the team's agent, found by id alone (another session's).
            await call("wait_dropped", "wait_for_return", {"id": os.environ["DROPPED_ID"], "timeout_s": 20})
        elif name == "get":
            # One `tasks/get` of a handoff id this session never saw.
            out["got"] = await tasks.get(c.session, os.environ["TASK_ID"])
        elif name == "rejected_wait":
            # A TASK refused at intake (tests/platform/mailboxes.rs): the wait answers its
            # rejection from the ledger at once, not a pending answer after the timeout.
            await call("wait_rejected", "wait_for_return", {"id": os.environ["REJECTED_ID"], "timeout_s": 20})
        elif name == "pages":
            # Every page of `inbox` (default limit) and of `status` (limit 7), cursor after
            # cursor, with each page's text length; then a cursor that is none.
            for tool, key, extra in (("inbox", "handoffs", {}), ("status", "open_handoffs", {"limit": 7})):
                pages, cursor = [], None
                while len(pages) < 500:
                    args = dict(extra, **({"cursor": cursor} if cursor is not None else {}))
                    got = shown(await c.call_tool(tool, args))
                    body = got["structured"]
                    pages.append({"chars": len(got["text"][0]), "ids": [h["id"] for h in body[key]],
                                  "total": body["total"], "next_cursor": body["next_cursor"]})
                    cursor = body["next_cursor"]
                    if cursor is None:
                        break
                out[tool] = pages
            await call("bad_cursor", "inbox", {"cursor": "x"})
            await call("bad_limit", "inbox", {"limit": 0})
        elif name == "state":
            await call("status", "status")
            await call("plugins", "plugins")
        else:
            tid = os.environ["TASK_ID"]
            await call("reply", "reply", {"id": tid, "status": "completed", "summary": "LGTM",
                                          "result": {"approved": True}, "artifacts": ["review.md"]})
            await call("reply_again", "reply", {"id": tid, "status": "failed", "summary": "again"})
            await call("wait_answered", "wait_for_return", {"id": tid})
    return out


def doc_configs(doc_path):
    """(client, command, args, env) for each configuration block of docs/agents.md."""
    import re
    import shlex
    import tomllib

    text = open(doc_path).read()
    out = []
    for section, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        for lang, block in re.findall(r"```(\w+)\n(.*?)```", body, re.S):
            if lang == "json":
                server = json.loads(block)["mcpServers"]["baton"]
                out.append((section, server["command"], server["args"], server.get("env", {})))
            elif lang == "toml":
                server = tomllib.loads(block)["mcp_servers"]["baton"]
                out.append((section, server["command"], server["args"], server.get("env", {})))
            elif lang == "sh" and " mcp add " in block:
                words = shlex.split(block.replace("\\\n", " "))
                env = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w in ("-e", "--env"))
                command = words[words.index("--") + 1:]
                out.append((section, command[0], command[1:], env))
    return out


async def docs(baton, home, doc_path):
    results = []
    for section, command, args, env in doc_configs(doc_path):
        assert command == "baton", (section, command)
        assert set(env) <= {"BATON_HOME"}, (section, env)
        run_env = {k: v for k, v in os.environ.items() if k.startswith(("XDG_", "BATON_LOG", "BATON_STATE"))}
        run_env["BATON_HOME"] = home
        params = StdioServerParameters(command=baton, args=args, env=run_env)
        async with Client(params) as c:
            tools = [t.name for t in (await c.list_tools()).tools]
            mine = await c.call_tool("inbox", {})
            results.append({"client": section, "args": args, "tools": tools,
                            "agent": (mine.structured_content or {}).get("agent"), "is_error": bool(mine.is_error)})
    return results


def main():
    baton, home, name = sys.argv[1:4]
    if name == "docs":
        print(json.dumps(asyncio.run(docs(baton, home, sys.argv[4]))))
        return
    print(json.dumps(asyncio.run(scenario(baton, home, name))))


if __name__ == "__main__":
    main()
