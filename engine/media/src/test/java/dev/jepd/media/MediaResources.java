package dev.jepd.media;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The reference files under {@code src/test/resources/media}, made by {@code make_media_refs.py}. */
final class MediaResources {
    private MediaResources() {}

    static Path path(String relative) {
        URL url = MediaResources.class.getResource("/media/" + relative);
        if (url == null) {
            throw new IllegalStateException("test resource media/" + relative + " is missing");
        }
        try {
            if (url.getProtocol().equals("file")) {
                return Path.of(url.toURI());
            }
            // From the media test-jar (tests in modules above that also read safetensors): a real file to map.
            Path copy =
                    Files.createTempFile("jepd-media-", "-" + Path.of(relative).getFileName());
            copy.toFile().deleteOnExit();
            try (var in = url.openStream()) {
                Files.copy(in, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return copy;
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] bytes(String relative) {
        try {
            return Files.readAllBytes(path(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The data rows of a CSV written by the script: comment lines and the header dropped. */
    static List<String[]> csv(String relative) {
        try {
            List<String[]> rows = new ArrayList<>();
            boolean header = true;
            for (String line : Files.readAllLines(path(relative))) {
                if (line.startsWith("#") || line.isBlank()) {
                    continue;
                }
                if (header) {
                    header = false;
                    continue;
                }
                rows.add(splitCsv(line));
            }
            return rows;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Python's csv module quotes a field only when it holds a comma or a quote. */
    private static String[] splitCsv(String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quoted) {
                if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    field.append(ch);
                }
            } else if (ch == '"') {
                quoted = true;
            } else if (ch == ',') {
                fields.add(field.toString());
                field.setLength(0);
            } else {
                field.append(ch);
            }
        }
        fields.add(field.toString());
        return fields.toArray(String[]::new);
    }

    /** The largest |a - b| over two equally long uint8 arrays. */
    static int maxAbsDiff(byte[] a, byte[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        int max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs((a[i] & 0xFF) - (b[i] & 0xFF)));
        }
        return max;
    }
}
