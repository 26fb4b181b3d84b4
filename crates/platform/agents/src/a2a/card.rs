//! The agent card (`GET /.well-known/agent-card.json`, readable without a key like any agent
//! card): one skill per installed plugin action and one per agent reachable through an inbox.
//! A2A's skill has no field for a parameter schema, so the params schemas travel in a card
//! extension (`urn:baton:a2a:params-schema:v1`: `{skill id: JSON Schema}`), the way the
//! protocol lets an agent say more than the core does.
use serde_json::{Map, Value, json};

use crate::Tree;

/// The pseudo-agent whose inbox takes the RETURNs of tasks sent over A2A: never offered as a
/// skill.
pub const A2A_AGENT: &str = "a2a";

/// The extension carrying each plugin skill's params schema.
pub const PARAMS_EXTENSION: &str = "urn:baton:a2a:params-schema:v1";

/// Agents a task can be sent to: every agent folder but baton's own and the `a2a` pseudo-agent.
pub fn agents(tree: &Tree) -> Vec<String> {
    tree.agents().into_iter().filter(|a| *a != tree.baton && a != A2A_AGENT).collect()
}

/// The card, for a client that reached us at `base` (`http://127.0.0.1:7878`).
pub fn card(tree: &Tree, runtime: Option<&baton_runtime::Runtime>, base: &str) -> Value {
    let mut skills = Vec::new();
    let mut schemas = Map::new();
    for plugin in tree.plugins() {
        let Some(loaded) = runtime.and_then(|rt| rt.get(&plugin)) else {
            // Installed but not loaded yet (compiling, or refused): its actions are unknown.
            continue;
        };
        for a in &loaded.info.actions {
            let id = format!("{plugin}.{}", a.name);
            let description = if a.description.is_empty() {
                format!("{plugin} {}: send its params as one data part", a.name)
            } else {
                format!("{} (send its params as one data part)", a.description)
            };
            skills.push(json!({
                "id": id,
                "name": format!("{plugin} {}", a.name),
                "description": description,
                "tags": ["plugin", plugin],
                "inputModes": ["application/json"],
                "outputModes": ["application/json"],
            }));
            schemas.insert(id, a.params_schema.clone());
        }
    }
    for agent in agents(tree) {
        skills.push(json!({
            "id": format!("agent:{agent}"),
            "name": agent,
            "description": format!(
                "a TASK for the agent {agent}, through its inbox: the first line of the text is the title; the answer comes when {agent} replies"
            ),
            "tags": ["agent"],
            "inputModes": ["text/plain", "application/json"],
            "outputModes": ["application/json"],
        }));
    }
    json!({
        "name": format!("baton ({})", tree.baton),
        "description": "baton runs TASKs in sandboxed plugins and passes them between agents through their inboxes; every task is a handoff file, answered once, across restarts. Name the skill in the message's metadata: {\"skill\": \"PLUGIN.ACTION\"} or {\"skill\": \"agent:NAME\"}.",
        "version": env!("CARGO_PKG_VERSION"),
        "supportedInterfaces": [{
            "url": format!("{base}/a2a"),
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }],
        "capabilities": {
            "streaming": true,
            "pushNotifications": false,
            "extendedAgentCard": false,
            "extensions": [{
                "uri": PARAMS_EXTENSION,
                "description": "the JSON Schema of each plugin skill's params, by skill id",
                "required": false,
                "params": schemas,
            }],
        },
        "securitySchemes": {
            "bearer": {"httpAuthSecurityScheme": {
                "scheme": "Bearer",
                "description": "the dashboard key (made by `baton init`, new with `baton key rotate`), as `Authorization: Bearer KEY`",
            }},
        },
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json"],
        "skills": skills,
    })
}
