package dev.jepd.media;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;

/**
 * Addresses a node must not fetch media from unless told to ({@code --allow-private-media-urls}): its own host, its
 * own networks and addresses that are not a single public host. IPv6 forms that embed an IPv4 address (mapped,
 * compatible, NAT64 {@code 64:ff9b::/96}, 6to4 {@code 2002::/16}) are judged by that address.
 */
final class PrivateAddresses {
    private PrivateAddresses() {}

    static boolean isPrivate(InetAddress a) {
        if (a.isLoopbackAddress()
                || a.isLinkLocalAddress()
                || a.isSiteLocalAddress()
                || a.isAnyLocalAddress()
                || a.isMulticastAddress()) {
            return true;
        }
        byte[] b = a.getAddress();
        if (a instanceof Inet4Address) {
            return isPrivateV4(b, 0);
        }
        if (a instanceof Inet6Address) {
            int first = b[0] & 0xFF;
            if ((first & 0xFE) == 0xFC) { // fc00::/7 unique local
                return true;
            }
            if (first == 0xFE && (b[1] & 0xC0) == 0xC0) { // fec0::/10 site local (deprecated)
                return true;
            }
            boolean zero10 = true;
            for (int i = 0; i < 10; i++) {
                zero10 &= b[i] == 0;
            }
            if (zero10 && ((b[10] == (byte) 0xFF && b[11] == (byte) 0xFF) || (b[10] == 0 && b[11] == 0))) {
                return isPrivateV4(b, 12); // ::ffff:a.b.c.d and ::a.b.c.d
            }
            if (first == 0x00 && b[1] == 0x64 && b[2] == (byte) 0xFF && b[3] == (byte) 0x9B) {
                return isPrivateV4(b, 12); // 64:ff9b::/96
            }
            if (first == 0x20 && b[1] == 0x02) {
                return isPrivateV4(b, 2); // 2002:a.b.c.d::/48
            }
        }
        return false;
    }

    private static boolean isPrivateV4(byte[] b, int at) {
        int o0 = b[at] & 0xFF;
        int o1 = b[at + 1] & 0xFF;
        return o0 == 0 // "this network"
                || o0 == 10
                || o0 == 127
                || (o0 == 100 && (o1 & 0xC0) == 64) // 100.64.0.0/10 carrier-grade NAT
                || (o0 == 169 && o1 == 254)
                || (o0 == 172 && (o1 & 0xF0) == 16)
                || (o0 == 192 && o1 == 168)
                || (o0 == 192 && o1 == 0 && (b[at + 2] & 0xFF) == 0) // 192.0.0.0/24 protocol assignments
                || (o0 == 198 && (o1 & 0xFE) == 18) // 198.18.0.0/15 benchmarking
                || o0 >= 224; // multicast, reserved, broadcast
    }
}
