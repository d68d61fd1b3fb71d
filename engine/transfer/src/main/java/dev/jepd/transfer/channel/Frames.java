package dev.jepd.transfer.channel;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The envelope of side-channel frames; integers little-endian.
 *
 * <pre>
 * request = magic:u32 op:u8 body
 * reply   = magic:u32 status:u8 (status = OK: body | status ≠ OK: message:str)
 * str     = length:u16 utf-8 bytes
 * </pre>
 */
public final class Frames {
    /** The longest string a frame carries. */
    public static final int MAX_STRING_BYTES = 4096;

    private Frames() {}

    public static void writeHeader(DataOutputStream out, int magic, int opOrStatus) throws IOException {
        writeInt(out, magic);
        out.writeByte(opOrStatus);
    }

    /**
     * Reads a frame's magic and its op or status byte.
     *
     * @throws ChannelException ({@link ChannelStatus#REJECTED}) when the magic is not {@code magic}
     * @throws EOFException when the peer closed the connection before a frame
     */
    public static int readHeader(DataInputStream in, int magic) throws IOException {
        int m = readInt(in);
        if (m != magic) {
            throw new ChannelException(
                    ChannelStatus.REJECTED,
                    "not a JEPD side-channel frame (magic 0x" + Integer.toHexString(m) + ", expected 0x"
                            + Integer.toHexString(magic) + ")");
        }
        return in.readUnsignedByte();
    }

    /** An error reply; a message too long for a frame is cut. */
    public static void writeError(DataOutputStream out, int magic, ChannelStatus status, String message)
            throws IOException {
        writeHeader(out, magic, status.code());
        byte[] b = message.getBytes(StandardCharsets.UTF_8);
        writeString(out, b.length > MAX_STRING_BYTES ? message.substring(0, MAX_STRING_BYTES / 4) : message);
        out.flush();
    }

    /**
     * Reads a reply's envelope; returns normally when it is OK, with {@code in} at the body.
     *
     * @throws ChannelException with the server's status and message when it is not
     */
    public static void readReplyHeader(DataInputStream in, int magic) throws IOException {
        int code = readHeader(in, magic);
        if (code == ChannelStatus.OK.code()) {
            return;
        }
        ChannelStatus s = ChannelStatus.of(code);
        if (s == null) {
            throw new ChannelException(ChannelStatus.REJECTED, "unknown side-channel status " + code);
        }
        throw new ChannelException(s, readString(in));
    }

    public static void writeInt(DataOutputStream out, int v) throws IOException {
        out.writeInt(Integer.reverseBytes(v));
    }

    public static int readInt(DataInputStream in) throws IOException {
        return Integer.reverseBytes(in.readInt());
    }

    public static void writeLong(DataOutputStream out, long v) throws IOException {
        out.writeLong(Long.reverseBytes(v));
    }

    public static long readLong(DataInputStream in) throws IOException {
        return Long.reverseBytes(in.readLong());
    }

    public static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > MAX_STRING_BYTES) {
            throw new ChannelException(
                    ChannelStatus.REJECTED, "string of " + b.length + " bytes exceeds " + MAX_STRING_BYTES);
        }
        out.writeShort(Short.reverseBytes((short) b.length));
        out.write(b);
    }

    public static String readString(DataInputStream in) throws IOException {
        int len = Short.reverseBytes(in.readShort()) & 0xFFFF;
        if (len > MAX_STRING_BYTES) {
            throw new ChannelException(
                    ChannelStatus.REJECTED, "string of " + len + " bytes exceeds " + MAX_STRING_BYTES);
        }
        byte[] b = new byte[len];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }
}
