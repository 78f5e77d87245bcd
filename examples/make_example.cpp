// Placeholder until the example generator lands.
int main() { return 0; }
