fn main() {
    std::process::exit(kinfra::setup::main());
}
