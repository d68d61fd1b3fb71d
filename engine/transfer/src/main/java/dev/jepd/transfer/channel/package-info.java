/**
 * JEPD's side channel, for any payload: small binary request/reply frames over TCP, one request per connection,
 * every wait bounded. A {@link dev.jepd.transfer.channel.SideChannelServer} reads a frame's envelope and hands its
 * body to the {@link dev.jepd.transfer.channel.ChannelHandler} registered for its op; an unknown op, a handler's
 * refusal or its failure is an error frame ({@link dev.jepd.transfer.channel.ChannelStatus}), never a dropped
 * connection. A {@link dev.jepd.transfer.channel.SideChannelClient} sends one request and reads one reply within
 * its connect and read timeouts. The envelope is that of the KV protocol ({@code dev.jepd.transfer.kv.KvWire}),
 * whose READ, RELEASE and STAGE are three handlers; another payload (an encoder output) would register ops of its
 * own.
 */
package dev.jepd.transfer.channel;
