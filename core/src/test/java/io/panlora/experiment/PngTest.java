package io.panlora.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** The PNG rendering of the SVG subset {@link Svg} writes. */
class PngTest {
    /** A line is drawn between its end points (attributes with digits in their names: x1, y1, x2, y2). */
    @Test
    void drawsLinesBetweenTheirEndPoints() throws Exception {
        String svg = "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='50' font-size='12'>\n"
                + "<rect width='100%' height='100%' fill='white'/>\n"
                + "<line x1='10' x2='90' y1='25' y2='25' stroke='#ff0000' stroke-width='2'/>\n</svg>\n";
        BufferedImage im = ImageIO.read(new ByteArrayInputStream(Png.render(svg)));
        assertEquals(200, im.getWidth()); // rendered at twice the size
        assertEquals(0xff0000, im.getRGB(100, 50) & 0xffffff, "on the line");
        assertEquals(0xffffff, im.getRGB(100, 20) & 0xffffff, "off the line");
        assertEquals(0xffffff, im.getRGB(10, 50) & 0xffffff, "before its start");
    }
}
