"""The pages' scripts, styles and the chart library (静态文件), served from ``web/static``."""
