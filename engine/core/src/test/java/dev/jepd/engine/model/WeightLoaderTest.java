package dev.jepd.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.RefBackend;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightLoaderTest {
    @Test
    void loadsEveryStoredFloatTypeFromTheMappingWithTheValuesReadFloatsGives(@TempDir Path tmp) throws Exception {
        float[] values = {1, -2.5f, 0.1f, 3.1415927f, -1e-3f, 65504};
        Path file = tmp.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        for (DType dt : List.of(DType.BF16, DType.F16, DType.F32)) {
            w.put("w." + dt, SafetensorsWriter.Entry.ofFloats(values, dt, 2, 3));
        }
        byte[] f64 = new byte[values.length * 8];
        java.nio.ByteBuffer.wrap(f64)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .asDoubleBuffer()
                .put(new double[] {1, -2.5, 0.1, 3.1415927, -1e-3, 65504});
        w.put("w.F64", new SafetensorsWriter.Entry(DType.F64, new long[] {2, 3}, f64));
        w.write(file);
        List<WeightSpec> specs = List.of(
                WeightSpec.single("w.BF16", 2, 3),
                WeightSpec.single("w.F16", 2, 3),
                WeightSpec.single("w.F32", 2, 3),
                WeightSpec.single("w.F64", 2, 3));
        try (SafetensorsFile src = SafetensorsFile.open(file);
                TensorBackend backend = new RefBackend();
                Scope s = backend.open()) {
            Map<String, Tensor> loaded =
                    new WeightLoader(Map.of(), List.of()).load(src, specs, backend.ops(s), "test weights");
            assertEquals(4, loaded.size());
            for (WeightSpec spec : specs) {
                Tensor t = loaded.get(spec.template());
                assertArrayEquals(new long[] {2, 3}, t.shape(), spec.template());
                assertEquals(dev.jepd.tensor.DType.F32, t.dtype(), spec.template());
                assertArrayEquals(src.readFloats(spec.template()), t.toFloats(), 0f, spec.template());
            }
            // bf16 rounding really happened: the loaded value is the stored one, not the original float.
            assertEquals(0.10009765625f, loaded.get("w.BF16").toFloats()[2]);
        }
    }
}
