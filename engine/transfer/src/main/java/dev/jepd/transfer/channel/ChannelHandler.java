package dev.jepd.transfer.channel;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * Serves one op. {@link #handle} reads the request body and does the work; the {@link Reply} it returns writes
 * the reply body after the server has written the OK envelope. The split is what lets a failure become an error
 * frame: nothing is on the wire until the work is done.
 */
@FunctionalInterface
public interface ChannelHandler {
    /**
     * @param body the request after its envelope; read exactly the request's body
     * @throws ChannelException to answer with that status and message
     * @throws IOException when the body cannot be read (the connection is dropped)
     */
    Reply handle(DataInputStream body) throws IOException;

    /** Writes the body of an OK reply. */
    @FunctionalInterface
    interface Reply {
        /** A reply without a body. */
        Reply EMPTY = out -> {};

        void write(DataOutputStream out) throws IOException;
    }
}
