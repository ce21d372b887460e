// The standalone-header program (tests/headers/meson.build): one translation unit a public
// header, each including only that header. Linking them together also proves that no header
// defines a non-inline function or variable. There is nothing to run.
int main() { return 0; }
