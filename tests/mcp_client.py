"""A real MCP client (the official Python SDK, `mcp` from PyPI) driving `baton mcp` over stdio.

Used by tests/mcp.rs: `python3 tests/mcp_client.py BATON HOME SCENARIO` runs one scenario and
prints, as one JSON object on stdout, what each call answered (structured content, text,
is_error), for the Rust test to check against the files on disk. Scenarios:
  claude: the agent "Claude" sends to the echo plugin and to "Codex", waits, lists, reads,
          and is refused where it must be;
  codex:  the agent "Codex" answers the TASK whose id is in $TASK_ID;
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

from mcp import Client
from mcp.client.stdio import StdioServerParameters


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
    else:
        params = StdioServerParameters(
            command=baton,
            args=["--home", home, "mcp", "--agent", agent, "--wait-cap", "20"],
            env={k: v for k, v in os.environ.items() if k.startswith(("XDG_", "BATON_LOG", "BATON_STATE"))},
        )
    out = {}
    async with Client(params) as c:
        async def call(key, tool, args=None):
            try:
                out[key] = shown(await c.call_tool(tool, args or {}))
            except Exception as e:  # a protocol error: recorded, the session goes on
                out[key] = {"protocol_error": str(e)}

        if name == "claude":
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
            await call("send_bad_action", "send_task", {"plugin": "echo", "action": "nope", "params": {}})
            bid = out["send_bad_action"]["structured"]["id"]
            await call("wait_rejected", "wait_for_return", {"id": bid})
            await call("retry", "retry", {"id": bid})
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
