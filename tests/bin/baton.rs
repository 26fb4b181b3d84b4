//! The binary the end-to-end tests run: the same program as `baton` (both are
//! [`baton_app::main`]), built by this crate because a test crate can only be handed the path
//! of a binary of its own (`CARGO_BIN_EXE_<name>`). Its usage lines still say `baton`.
fn main() {
    baton_app::main()
}
