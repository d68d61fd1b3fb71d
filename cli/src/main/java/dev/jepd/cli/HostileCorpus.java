package dev.jepd.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32;

/**
 * A seeded corpus of hostile requests for a node's {@code /v1/chat/completions}, and the rule each answer must
 * obey: a 2xx, or a 4xx whose body is OpenAI error JSON, within 30 s; never a 5xx, a non-JSON error, a hang or a
 * dead process. Every case is sent as raw bytes over one loopback socket, so framing errors and oversized heads are
 * cases like any other. The same seed gives the same corpus.
 */
final class HostileCorpus {
    /**
     * One hostile request: what it tries, the bytes on the wire, and whether only the node's body deadline ends
     * it (a body that never completes: its answer, a 408, takes {@code --http-body-timeout}).
     */
    record Case(String what, byte[] request, boolean untilBodyDeadline) {
        Case(String what, byte[] request) {
            this(what, request, false);
        }
    }

    /** What came back: the status (0: the connection closed without an answer), the body and the time taken. */
    record Outcome(Case c, int status, String body, long millis) {
        boolean jsonError() {
            return body.matches("(?s)\\s*\\{\\s*\"error\"\\s*:\\s*\\{.*\"code\"\\s*:\\s*" + status + ".*}\\s*");
        }

        /** The rule every answer obeys; null when it does, else why not. */
        String violation() {
            if (millis > 30_000) {
                return "took " + millis + " ms";
            }
            if (status >= 500) {
                return "answered " + status;
            }
            if (status >= 400 && !jsonError()) {
                return status + " without OpenAI error JSON";
            }
            if (status == 0) {
                return "closed without an answer";
            }
            return null;
        }
    }

    private static final String[] FIELDS = {
        "stream",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "response_format",
        "tools",
        "tool_choice",
        "stream_options",
        "user",
        "ignore_eos",
        "stop_token_ids",
        "n",
        "best_of",
        "stop",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "seed",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "min_tokens",
        "model",
        "messages",
        "mm_processor_kwargs",
        "kv_transfer_params",
        "ec_transfer_params",
        "request_timeout",
        "include_stop_str_in_output",
        "echo"
    };
    private static final String[] WRONG = {
        "\"x\"",
        "5",
        "-1",
        "1.5",
        "true",
        "[]",
        "{}",
        "[1,\"a\"]",
        "{\"a\":[]}",
        "\"\"",
        "1e400",
        "-0",
        "2147483648",
        "[[[]]]",
        "\"\\u0000\"",
        "\"yes\"",
        "0"
    };
    private static final String[] INWARD = {
        "http://127.0.0.1:1/x.png",
        "http://localhost:9/x.png",
        "http://[::1]:9/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x.png",
        "http://0.0.0.0:9/x.png",
        "http://[::ffff:127.0.0.1]:9/x.png",
        "file:///etc/passwd",
        "file:///proc/self/environ",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:9/x",
        "data:image/png;base64,@@@",
        "data:text/plain,hello",
        "data:image/png;base64,",
        "/etc/passwd",
        "../../etc/passwd",
        "http://user:pw@127.0.0.1:9/x.png",
        "http:///x.png",
        "http://%00/x.png"
    };

    private HostileCorpus() {}

    static List<Case> generate(long seed, int count, String model) {
        Random rnd = new Random(seed);
        List<Case> fixed = new ArrayList<>();
        String msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        String base = "\"model\":\"" + model + "\"," + msgs + ",\"max_tokens\":2";
        for (String url : INWARD) {
            fixed.add(post("image " + url, imageBody(model, url, null)));
        }
        for (String uuid : new String[] {"5", "\"../x\"", "\"a/b\"", "\"" + "u".repeat(5000) + "\"", "[]", "\"..\""}) {
            fixed.add(post("uuid " + clip(uuid), imageBody(model, "data:image/png;base64,AAAA", uuid)));
        }
        fixed.add(post("PNG declaring 40000x40000", imageBody(model, pngDataUrl(40_000, 40_000), null)));
        fixed.add(post("PNG declaring 13000x13000", imageBody(model, pngDataUrl(13_000, 13_000), null)));
        fixed.add(post("PNG declaring 65535x1", imageBody(model, pngDataUrl(65_535, 1), null)));
        for (String body : new String[] {
            "",
            "{",
            "[]",
            "null",
            "\"x\"",
            "{\"model\":",
            "{}" + "x",
            "{\"messages\":[]}",
            "\uFEFF{}",
            "[".repeat(100_000),
            "{\"a\":" + "1".repeat(100_000) + "}",
            "{\"messages\":[{\"role\":\"wizard\"}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"audio_url\",\"audio_url\":{\"url\":\"x\"}}]}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2147483647}",
            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":" + stopList(1000) + "}",
            "{" + msgs + ",\"max_tokens\":2,\"temperature\":-1}",
            "{" + msgs + ",\"max_tokens\":2,\"top_p\":2}",
        }) {
            fixed.add(post("body " + clip(body), body));
        }
        fixed.add(new Case(
                "invalid UTF-8", request("POST", "application/json", new byte[] {'{', '"', (byte) 0xC3, '"', '}'})));
        fixed.add(new Case("Content-Type text/plain", request("POST", "text/plain", ascii("{" + base + "}"))));
        fixed.add(new Case("Content-Type form", request("POST", "application/x-www-form-urlencoded", ascii("a=b"))));
        fixed.add(new Case("not HTTP", ascii("HELLO\r\n\r\n")));
        fixed.add(new Case("bad request line", ascii("GET\r\n\r\n")));
        fixed.add(new Case("header without colon", ascii("GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n")));
        fixed.add(new Case(
                "1 MB header", ascii("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(1 << 20) + "\r\n\r\n")));
        StringBuilder many = new StringBuilder("GET /health HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 2000; i++) {
            many.append("X-H").append(i).append(": v\r\n");
        }
        fixed.add(new Case("2,000 headers", ascii(many.append("\r\n").toString())));
        fixed.add(new Case(
                "bad Content-Length",
                ascii("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")));
        fixed.add(new Case(
                "Content-Length and chunked",
                ascii("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")));
        fixed.add(new Case(
                "bad chunk size",
                ascii("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n"),
                true));
        fixed.add(new Case(
                "X-Request-Id 64 KB",
                request("POST", "application/json", ascii("{" + base + "}"), "X-Request-Id", "r".repeat(64 << 10))));
        fixed.add(new Case(
                "X-Request-Id path",
                request("POST", "application/json", ascii("{" + base + "}"), "X-Request-Id", "../../etc/x")));
        fixed.add(new Case("unknown path", ascii("GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        fixed.add(new Case(
                "wrong method", ascii("DELETE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        // Then every field with every wrong value (the special cases above come first, so a short run has them).
        for (String f : FIELDS) {
            for (String w : WRONG) {
                String body = f.equals("messages") || f.equals("model")
                        ? "{" + (f.equals("model") ? msgs : "\"model\":\"" + model + "\"") + ",\"" + f + "\":" + w
                                + ",\"max_tokens\":2}"
                        : "{" + base + ",\"" + f + "\":" + w + "}";
                fixed.add(post("wrong type " + f + "=" + w, body));
            }
        }
        // Seeded mutations of a good body fill the corpus up to count: one field set to a random wrong value.
        List<Case> out = new ArrayList<>(fixed.subList(0, Math.min(count, fixed.size())));
        while (out.size() < count) {
            String f = FIELDS[rnd.nextInt(FIELDS.length)];
            String w = WRONG[rnd.nextInt(WRONG.length)];
            String junk = "\"" + randomText(rnd, 1 + rnd.nextInt(64)) + "\"";
            String value = rnd.nextBoolean() ? w : rnd.nextBoolean() ? junk : "[" + w + "," + junk + "]";
            out.add(post("seeded " + f + "=" + clip(value), "{" + base + ",\"" + f + "\":" + value + "}"));
        }
        return out;
    }

    /** Sends one case on a fresh loopback connection and reads the one answer. */
    static Outcome send(String host, int port, Case c) {
        long start = System.nanoTime();
        int status = 0;
        String body = "";
        try (Socket s = new Socket(host, port)) {
            s.setSoTimeout(35_000);
            try {
                s.getOutputStream().write(c.request());
                s.getOutputStream().flush();
            } catch (IOException e) {
                // the node may answer and close before reading everything
            }
            String answer = readAnswer(s.getInputStream());
            if (answer.startsWith("HTTP/1.1 ")) {
                status = Integer.parseInt(answer.substring(9, 12));
                int at = answer.indexOf("\r\n\r\n");
                body = at < 0 ? "" : answer.substring(at + 4);
            }
        } catch (IOException e) {
            // status 0: closed or timed out without an answer
        }
        return new Outcome(c, status, body, (System.nanoTime() - start) / 1_000_000);
    }

    private static String readAnswer(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[16384];
        try {
            for (int n; (n = in.read(buf)) > 0; ) {
                got.write(buf, 0, n);
                String text = got.toString(StandardCharsets.ISO_8859_1);
                int head = text.indexOf("\r\n\r\n");
                if (head >= 0) {
                    int cl = text.toLowerCase().indexOf("content-length: ");
                    if (cl >= 0 && cl < head) {
                        int end = text.indexOf("\r\n", cl);
                        long length =
                                Long.parseLong(text.substring(cl + 16, end).strip());
                        if (got.size() >= head + 4 + length) {
                            break;
                        }
                    }
                }
            }
        } catch (IOException e) {
            // reset after the answer: keep what arrived
        }
        return got.toString(StandardCharsets.UTF_8);
    }

    private static Case post(String what, String json) {
        return new Case(what, request("POST", "application/json", json.getBytes(StandardCharsets.UTF_8)));
    }

    private static byte[] request(String method, String contentType, byte[] body, String... headers) {
        StringBuilder head = new StringBuilder(method + " /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Connection: close\r\nContent-Type: " + contentType + "\r\nContent-Length: " + body.length + "\r\n");
        for (int i = 0; i + 1 < headers.length; i += 2) {
            head.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
        }
        byte[] h = ascii(head.append("\r\n").toString());
        byte[] all = new byte[h.length + body.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(body, 0, all, h.length, body.length);
        return all;
    }

    private static String imageBody(String model, String url, String uuidJson) {
        String part = "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url.replace("\"", "\\\"") + "\"}"
                + (uuidJson == null ? "" : ",\"uuid\":" + uuidJson) + "}";
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":[" + part
                + ",{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":2}";
    }

    /** A PNG whose header declares {@code w x h} and whose data is one empty IDAT: a bomb by declaration. */
    static String pngDataUrl(int w, int h) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, w);
        putInt(ihdr, 4, h);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        chunk(png, "IHDR", ihdr);
        chunk(png, "IDAT", new byte[] {0x78, (byte) 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
        chunk(png, "IEND", new byte[0]);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png.toByteArray());
    }

    static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] len = new byte[4];
        putInt(len, 0, data.length);
        out.writeBytes(len);
        byte[] t = ascii(type);
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        byte[] c = new byte[4];
        putInt(c, 0, (int) crc.getValue());
        out.writeBytes(c);
    }

    static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    private static String stopList(int n) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < n; i++) {
            s.append(i == 0 ? "" : ",").append("\"s").append(i).append('"');
        }
        return s.append(']').toString();
    }

    private static String randomText(Random rnd, int n) {
        String alphabet = "abcXYZ019 _-./\\\\é漢🙂<>{}[]:,";
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < n; i++) {
            char ch = alphabet.charAt(rnd.nextInt(alphabet.length()));
            if (Character.isSurrogate(ch)) {
                continue;
            }
            s.append(ch == '\\' ? "\\\\" : ch == '"' ? "\\\"" : String.valueOf(ch));
        }
        return s.toString();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static String clip(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
