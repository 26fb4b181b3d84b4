//! The host program the tests' `baton-e2e` hands commands to: the same as `baton-host`
//! ([`baton_app::main`]).
fn main() {
    baton_app::main()
}
