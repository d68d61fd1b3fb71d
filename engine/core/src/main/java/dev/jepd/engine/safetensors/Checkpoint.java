package dev.jepd.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The weights of a Hugging Face snapshot directory: {@code model.safetensors.index.json} with its shards
 * when present, else {@code model.safetensors}, else every {@code *.safetensors} in the directory.
 */
public final class Checkpoint implements TensorSource {
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byName;

    private Checkpoint(List<SafetensorsFile> files, Map<String, SafetensorsFile> byName) {
        this.files = files;
        this.byName = byName;
    }

    public static Checkpoint open(Path dir) {
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            return openIndexed(dir, index);
        }
        List<Path> paths;
        if (Files.isRegularFile(dir.resolve(SINGLE))) {
            paths = List.of(dir.resolve(SINGLE));
        } else {
            try (Stream<Path> s = Files.list(dir)) {
                paths = s.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                        .sorted()
                        .toList();
            } catch (IOException e) {
                throw new SafetensorsException(dir + ": cannot list checkpoint directory (" + e.getMessage() + ")", e);
            }
        }
        if (paths.isEmpty()) {
            throw new SafetensorsException(dir + ": no " + INDEX + ", " + SINGLE + " or *.safetensors file");
        }
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile> byName = new TreeMap<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String name : f.names()) {
                    SafetensorsFile prev = byName.put(name, f);
                    if (prev != null) {
                        throw new SafetensorsException(
                                "tensor " + name + " appears in both " + prev.path() + " and " + p);
                    }
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new Checkpoint(files, byName);
    }

    private static Checkpoint openIndexed(Path dir, Path index) {
        JsonNode weightMap;
        try {
            weightMap = new ObjectMapper().readTree(index.toFile()).get("weight_map");
        } catch (IOException e) {
            throw new SafetensorsException(index + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        if (weightMap == null || !weightMap.isObject()) {
            throw new SafetensorsException(index + ": no weight_map object");
        }
        Map<String, String> tensorToShard = new TreeMap<>();
        weightMap
                .fields()
                .forEachRemaining(
                        e -> tensorToShard.put(e.getKey(), e.getValue().asText()));
        List<String> missingShards = tensorToShard.values().stream()
                .distinct()
                .filter(s -> !Files.isRegularFile(dir.resolve(s)))
                .sorted()
                .toList();
        if (!missingShards.isEmpty()) {
            throw new SafetensorsException(index + ": missing shard file(s) " + missingShards + " in " + dir);
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byName = new TreeMap<>();
        try {
            for (var e : tensorToShard.entrySet()) {
                if (e.getValue().contains("/") || e.getValue().contains("..")) {
                    throw new SafetensorsException(index + ": shard name " + e.getValue() + " leaves the directory");
                }
                SafetensorsFile f = shards.computeIfAbsent(e.getValue(), s -> SafetensorsFile.open(dir.resolve(s)));
                if (f.info(e.getKey()) == null) {
                    throw new SafetensorsException(
                            index + " maps " + e.getKey() + " to " + e.getValue() + ", which does not contain it");
                }
                byName.put(e.getKey(), f);
            }
        } catch (RuntimeException e) {
            shards.values().forEach(SafetensorsFile::close);
            throw e;
        }
        return new Checkpoint(new ArrayList<>(shards.values()), byName);
    }

    @Override
    public Set<String> names() {
        return Collections.unmodifiableSet(byName.keySet());
    }

    @Override
    public TensorInfo info(String name) {
        SafetensorsFile f = byName.get(name);
        return f == null ? null : f.info(name);
    }

    @Override
    public String location(String name) {
        SafetensorsFile f = byName.get(name);
        return f == null ? "(absent)" : f.path().toString();
    }

    @Override
    public float[] readFloats(String name) {
        return file(name).readFloats(name);
    }

    @Override
    public long[] readLongs(String name) {
        return file(name).readLongs(name);
    }

    @Override
    public MemorySegment segment(String name) {
        return file(name).segment(name);
    }

    @Override
    public byte[] readBytes(String name) {
        return file(name).readBytes(name);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile f = byName.get(name);
        if (f == null) {
            throw new SafetensorsException("checkpoint has no tensor named " + name);
        }
        return f;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
