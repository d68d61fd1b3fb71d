/**
 * What the proxy does with a request, stage by stage, as vLLM's {@code disagg_epd_proxy.py} does it
 * (DESIGN §4.3–4.5): {@link dev.jepd.proxy.flow.Disaggregation} stamps item uuids, waits for
 * {@link dev.jepd.proxy.flow.EncoderFanout} (one request per image, concurrently, all must answer 200
 * because an encoder writes the EC file before it answers), runs {@link dev.jepd.proxy.flow.PrefillStage}
 * when a prefill cluster is configured (its {@code kv_transfer_params} go to decode verbatim), and hands
 * back the decode node's answer, whole or as a stream, as a {@link dev.jepd.proxy.flow.ProxyReply}. The
 * cluster-wide operations live here too: {@link dev.jepd.proxy.flow.ClusterHealth} and
 * {@link dev.jepd.proxy.flow.ProfileFanout}. Nothing here knows the server: routes translate.
 */
package dev.jepd.proxy.flow;
