package dev.jepd.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.models.golden.GoldenCase;
import dev.jepd.models.tiny.TinyModels;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.TorchBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Registries and fixtures move together: every architecture the registry implements has a tiny fixture writer
 * and Hugging Face goldens (a golden model directory whose config.json names it, and cases made on that
 * model); the fixture writes exactly the golden model's config and loads through the registry. An architecture
 * without them may be in the registry only as planned (not implemented), and nothing has a fixture or goldens
 * without being implemented.
 */
class ModelRegistryFixturesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Golden model directory name → the architectures its config.json names. */
    private static Map<String, List<String>> goldenModels() throws IOException {
        Map<String, List<String>> out = new TreeMap<>();
        try (Stream<Path> dirs = Files.list(GoldenCase.root())) {
            for (Path d : dirs.filter(p -> Files.isRegularFile(p.resolve("config.json")))
                    .toList()) {
                List<String> archs = new ArrayList<>();
                JSON.readTree(d.resolve("config.json").toFile())
                        .path("architectures")
                        .forEach(a -> archs.add(a.asText()));
                out.put(d.getFileName().toString(), archs);
            }
        }
        return out;
    }

    /** Golden model directory name → its cases (a .json with its .safetensors beside it). */
    private static Map<String, List<String>> goldenCases() throws IOException {
        Map<String, List<String>> out = new TreeMap<>();
        try (Stream<Path> files = Files.list(GoldenCase.root().resolve("cases"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".json")).toList()) {
                String name = f.getFileName().toString().replaceFirst("\\.json$", "");
                if (!Files.isRegularFile(f.resolveSibling(name + ".safetensors"))) {
                    continue;
                }
                JsonNode c = JSON.readTree(f.toFile());
                out.computeIfAbsent(c.path("model").asText(), k -> new ArrayList<>())
                        .add(name);
            }
        }
        return out;
    }

    @Test
    void everyImplementedArchitectureHasAFixtureAndGoldens() throws IOException {
        Map<String, List<String>> models = goldenModels();
        Map<String, List<String>> cases = goldenCases();
        assertFalse(ModelRegistry.supported().isEmpty());
        List<String> problems = new ArrayList<>();
        for (String arch : ModelRegistry.supported()) {
            if (!TinyModels.BY_ARCHITECTURE.containsKey(arch)) {
                problems.add(arch + ": no tiny fixture in TinyModels.BY_ARCHITECTURE");
            }
            List<String> dirs = models.entrySet().stream()
                    .filter(e -> e.getValue().contains(arch))
                    .map(Map.Entry::getKey)
                    .toList();
            if (dirs.isEmpty()) {
                problems.add(arch + ": no golden model directory whose config.json names it");
            } else if (dirs.stream().noneMatch(cases::containsKey)) {
                problems.add(arch + ": no golden cases made on " + dirs);
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void plannedArchitecturesAreMarkedAndHaveNoFixture() throws IOException {
        for (String arch : ModelRegistry.planned()) {
            assertFalse(ModelRegistry.supported().contains(arch), arch + " is both planned and implemented");
        }
        Set<String> implemented = ModelRegistry.supported();
        assertTrue(
                implemented.containsAll(TinyModels.BY_ARCHITECTURE.keySet()),
                "fixtures for architectures the registry does not load: " + TinyModels.BY_ARCHITECTURE.keySet());
        Set<String> golden = new HashSet<>();
        goldenModels().values().forEach(golden::addAll);
        assertTrue(implemented.containsAll(golden), "goldens for architectures the registry does not load: " + golden);
    }

    /** Each fixture is the golden model (same config.json) and the registry loads it as that architecture. */
    @Test
    void everyFixtureWritesItsGoldenModelAndLoads() throws IOException {
        Map<String, List<String>> models = goldenModels();
        for (var e : TinyModels.BY_ARCHITECTURE.entrySet()) {
            String arch = e.getKey();
            Path dir = e.getValue().ensure(tmp.resolve(arch));
            byte[] config = Files.readAllBytes(dir.resolve("config.json"));
            boolean matchesAGolden = false;
            for (var m : models.entrySet()) {
                if (m.getValue().contains(arch)) {
                    matchesAGolden |= java.util.Arrays.equals(
                            Files.readAllBytes(
                                    GoldenCase.root().resolve(m.getKey()).resolve("config.json")),
                            config);
                }
            }
            assertTrue(matchesAGolden, arch + ": the fixture's config.json is no golden model's");
            try (TensorBackend ops = TorchBackend.cpu(dev.jepd.tensor.DType.F32);
                    MultimodalModel model = ModelRegistry.load(HfSnapshot.open(dir), ops, ModelParts.ALL)) {
                assertEquals(arch, model.architecture());
                assertTrue(model.vision().isPresent() && model.language().isPresent(), arch);
            }
        }
    }
}
