fn main() {
    baton_app::main()
}
