package dev.jepd.proxy;

/** Entry point of {@code jepd proxy}. The proxy itself is not built yet (issue 3). */
public final class ProxyMain {
    private ProxyMain() {}

    public static void main(String[] args) {
        System.err.println("jepd proxy: not implemented yet (E+PD serving is the next milestone; see README status)");
        System.exit(2);
    }
}
