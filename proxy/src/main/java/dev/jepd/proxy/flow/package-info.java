/**
 * What the proxy does with a request, stage by stage, as vLLM's {@code disagg_epd_proxy.py} does it
 * (DESIGN §4.3–4.5), and what it does when a node fails: {@link dev.jepd.proxy.flow.Disaggregation} stamps item
 * uuids, waits for {@link dev.jepd.proxy.flow.EncoderFanout} (one request per image, concurrently; an encoder
 * writes the EC file before it answers 200; a failed encoder is replaced by another, and with none left the item
 * is left to the PD node, which encodes it; requests carrying the same item share one encoder call), runs
 * {@link dev.jepd.proxy.flow.PrefillStage} when a prefill cluster is configured (its {@code kv_transfer_params}
 * go to decode verbatim; without a prefill node, decode prefills itself), and hands back the decode node's
 * answer, whole or as a stream, as a {@link dev.jepd.proxy.flow.ProxyReply} (a decode node that fails before
 * its first byte is replaced). The cluster-wide operations live here too:
 * {@link dev.jepd.proxy.flow.ClusterHealth}, {@link dev.jepd.proxy.flow.ProfileFanout} and
 * {@link dev.jepd.proxy.flow.Membership} ({@code /instances}, {@code --config}). Nothing here knows the server
 * (routes translate) except {@link dev.jepd.proxy.flow.IoThreadFlow}: the same E+PD flow, its steps shared with
 * the classes above, driven by IO events on the thread that received the request, which therefore writes its
 * answer to the exchange itself.
 */
package dev.jepd.proxy.flow;
