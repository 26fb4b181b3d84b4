//! `baton`: the front an agent's commands start (see `baton_app::front`); it hands every other
//! command to `baton-host`, installed beside it.
fn main() {
    baton_app::front::main()
}
