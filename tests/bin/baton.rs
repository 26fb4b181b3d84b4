//! The binary the end-to-end tests run: the same program as `baton` (both are
//! [`baton_app::front::main`], which hands most commands to `baton-e2e-host` beside it), built
//! by this crate because a test crate can only be handed the path of a binary of its own
//! (`CARGO_BIN_EXE_<name>`). Its usage lines still say `baton`.
fn main() {
    baton_app::front::main()
}
