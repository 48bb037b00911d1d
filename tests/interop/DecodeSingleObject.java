/*
 * Decodes one Avro single-object encoded message with Apache Avro's own Java
 * implementation and prints the record (GenericData's JSON-like toString) on stdout.
 *
 * Run with Java's source launcher, the Avro jars on the class path:
 *   java -cp "JARS/*" DecodeSingleObject.java SCHEMA.json DATA.bin
 *
 * Exit status: 0 decoded; 1 the message could not be decoded; 2 bad usage or schema.
 */

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

public class DecodeSingleObject {

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: java -cp 'JARS/*' DecodeSingleObject.java SCHEMA.json DATA.bin");
      System.exit(2);
    }
    Schema schema;
    try {
      schema = new Schema.Parser().parse(Files.readString(Path.of(args[0]), StandardCharsets.UTF_8));
    } catch (Exception e) {
      System.err.println("schema " + args[0] + " does not parse: " + e);
      System.exit(2);
      return;
    }
    byte[] data = Files.readAllBytes(Path.of(args[1]));

    BinaryMessageDecoder<GenericRecord> decoder =
        new BinaryMessageDecoder<>(GenericData.get(), schema);
    GenericRecord record;
    try {
      record = decoder.decode(data);
    } catch (Exception e) {
      System.err.println("cannot decode " + args[1] + " as " + schema.getFullName() + ": " + e);
      System.err.println("fingerprint of the schema (CRC-64-AVRO, little-endian): "
          + hex(SchemaNormalization.parsingFingerprint("CRC-64-AVRO", schema)));
      System.err.println("parsing canonical form: " + SchemaNormalization.toParsingForm(schema));
      System.exit(1);
      return;
    }

    // UTF-8 whatever the platform default, so non-ASCII strings survive the pipe.
    PrintStream out =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    out.println(record);
    out.flush();
  }

  private static String hex(byte[] bytes) {
    StringBuilder text = new StringBuilder();
    for (byte b : bytes) {
      text.append(String.format("%02x", b));
    }
    return text.toString();
  }
}
