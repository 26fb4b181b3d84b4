//! `baton-host`: the whole program (the plugin runtime, `serve`, every command), which `baton`
//! hands a command to when it does not run the command itself (see `baton_app::front`).
fn main() {
    baton_app::main()
}
